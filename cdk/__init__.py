"""The TradPal CDK app: stacks built from the capability catalog (tradpal.platform.catalog)."""
