"""The café feature's logic that does not touch chat: schedules, reminders, calendar files."""
