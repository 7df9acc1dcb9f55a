"""The console pages: login, the operator console, the supervisor view, their static files."""
