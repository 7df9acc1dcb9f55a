"""Calls from every PBX into call records; click-to-call; the call log API."""
