"""What each cloud PBX sends kolokol, built the way the provider builds it; shared by unit and integration
tests."""
