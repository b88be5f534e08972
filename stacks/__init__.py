"""The crypto-live CDK app: settings, constructs one per concern, and the stack that wires them."""
