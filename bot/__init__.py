"""Peerhaven: app lifecycle, config, transports, delivery, scheduler, i18n."""
