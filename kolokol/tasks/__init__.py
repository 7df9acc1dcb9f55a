"""Callback tasks: the rules that open and close them, their API, and announcing their changes."""
