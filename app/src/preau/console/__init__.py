"""The platform operator's console (`/console/`): establishments, account search, usage
statistics (app/README.md, "Console")."""
