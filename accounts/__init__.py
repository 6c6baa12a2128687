"""Accounts: sign-in through django-allauth, enforced MFA and step-up checks for high-risk actions."""
