"""What the portal does, callable from views, the CLI and tests (no request objects)."""
