"""The operator feed: live call and task changes to the consoles, caller cards."""
