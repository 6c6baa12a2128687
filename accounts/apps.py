from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from allauth.mfa import signals

        from accounts import audit
        from accounts.invitations import invitations_erase_for_user
        from consent.signals import talent_erased

        signals.authenticator_added.connect(audit.authenticator_added, dispatch_uid="accounts.audit.added")
        signals.authenticator_removed.connect(audit.authenticator_removed, dispatch_uid="accounts.audit.removed")
        talent_erased.connect(invitations_erase_for_user, dispatch_uid="accounts.invitations.erase")
