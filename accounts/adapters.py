from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib.auth.models import Group

from accounts.services import claim_by_verified_email
from accounts.validators import strip_control_characters


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=False)
        if not user.name:
            user.name = (user.email or "").split("@")[0][:100] or "Deepiri user"
        if commit:
            user.save()
            user.groups.add(Group.objects.get_or_create(name="user")[0])
        return user


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Fill `name` from the provider's profile and put new users in the `user` group."""

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        extra = sociallogin.account.extra_data or {}
        name = data.get("name") or extra.get("name") or " ".join(
            p for p in (data.get("first_name"), data.get("last_name")) if p
        )
        name = strip_control_characters(name)
        user.name = (name or (user.email or "").split("@")[0] or "Deepiri user")[:100]
        return user

    def authenticate_by_email(self, sociallogin):
        """allauth signs the provider's verified address in to the local account that has it;
        if that account never verified the address itself, its registrant loses the password,
        tokens and sessions (`accounts.services.claim_by_verified_email`)."""
        found = super().authenticate_by_email(sociallogin)
        if found:
            claim_by_verified_email(found[0])
        return found

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        user.groups.add(Group.objects.get_or_create(name="user")[0])
        return user
