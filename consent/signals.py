"""Domain events consent announces, for apps that depend on consent.

Consent never imports its dependants; they listen. Running jobs still learn of a
revocation from the gate itself (pull); the event lets queued work stop at once.
"""

from django.dispatch import Signal

# sent with license_id (str) and actor (str), after the revocation commits
license_revoked = Signal()

# sent with user_id inside the erasure's transaction, so what listeners erase commits with it
talent_erased = Signal()
