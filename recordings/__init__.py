"""Call recordings: acquired from Asterisk or a cloud PBX, transcoded, stored, played, purged."""
