"""Built-in infogan plugin."""
