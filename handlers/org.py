"""The vocabulary of the organisation tree: unit kinds and host kinds, with their display names."""

from __future__ import annotations

from handlers.i18n import N_

UNIT_KINDS = {
    "party_committee": N_("Grassroots party committee"),
    "cell": N_("Grassroots party cell"),
}

HOST_KINDS = {
    "agency": N_("Agency"),
    "public_service_unit": N_("Public service unit"),
    "state_enterprise_majority": N_(
        "State enterprise (the state holds over 50 percent of the charter capital)"
    ),
    "state_enterprise_minority": N_("Enterprise with state capital of 50 percent or less"),
    "private_enterprise": N_("Private enterprise"),
}

ROLES = (
    "member",
    "collaborator",
    "contact",
    "secretary",
    "staff",
    "leader",
    "admin",
    "handler",
)
BINDING_ROLES = ("leaders", "staff")  # plus department:CODE
BINDING_CHANNELS = ("telegram", "zalo", "zalo-oa", "web")


def is_binding_role(role: str) -> bool:
    """leaders, staff or department:CODE (the CLI's `chat bind` and the admin share this)."""
    return role in BINDING_ROLES or (role.startswith("department:") and len(role) > 11)
