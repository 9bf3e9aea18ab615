"""Conversations between people: a thread with participants, messages, read receipts.

Generic on purpose: a consultation's room and a patient's conversation with their care team
both use it. A thread may name the patient it is about (``patient_id``); then a participant
reads it only while they may also see that patient (``patients.access``), so a consultant's
share ending closes the conversation too. Attachments are references (a key image, a report,
a study), never copies of patient data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Thread(models.Model):
    # What the thread belongs to, e.g. ("consultation", 12) or ("care_team", 3): plain values so
    # that apps above this one can own threads without a foreign key down to them.
    subject_type = models.CharField(max_length=32)
    subject_id = models.BigIntegerField(null=True, blank=True)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="threads", null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"thread {self.pk}"


class ThreadParticipant(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="thread_participations")
    # Read receipt: the newest message this participant has read (0: none).
    last_read_id = models.BigIntegerField(default=0)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["thread", "user"], name="thread_participant_unique")]

    def __str__(self) -> str:
        return f"participant {self.user_id} of thread {self.thread_id}"


class Message(models.Model):
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="messages")
    # A reply names the message it answers (one level of threading is what the UI shows).
    parent = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="replies")
    body = models.TextField()
    # [{"kind": "key_image" | "study" | "series" | "report", "ref": "...", "label": "..."}]
    attachments = models.JSONField(default=list, blank=True)
    # Chosen by the sending client; a resend after a lost answer finds the first message
    # instead of creating a second one.
    client_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["thread", "author", "client_key"], name="message_client_key_unique")
        ]

    def __str__(self) -> str:
        return f"message {self.pk}"
