from django.db import models


class Effect(models.Model):
    """What a test handler did: one row per application (so duplicates would show as extra rows)."""

    handler = models.CharField(max_length=200)
    message_id = models.CharField(max_length=255)
    key = models.CharField(max_length=255, null=True)
    sequence = models.BigIntegerField(null=True)
    value = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "testapp"

    def __str__(self) -> str:
        return f"{self.handler} {self.message_id}"
