"""Task reminders (models, services, views, the due scan): part of the tasks app, with its label
and migrations."""
