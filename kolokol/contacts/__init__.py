"""Contacts (patients): upsert by the CRM's id, match by phone, CSV import, their API."""
