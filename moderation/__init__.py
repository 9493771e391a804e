"""Roles, reports, sanctions, audit, crisis and disclosure checks."""
