"""Built-in codes plugin."""
