"""Threads and messages: create, send (idempotent), read receipts. Views and consumers call these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from cdss.audit.models import AuditAction, AuditOutcome
from cdss.audit.reads import read_audit_mark
from cdss.audit.services import audit_record
from cdss.core.errors import NotFound, ValidationFailed
from cdss.core.events import event_publish_on_commit, thread_group
from cdss.core.ids import id_for_audit, id_parse
from messaging.models import Message, Thread, ThreadParticipant
from patients.access import patients_for_user

MESSAGE_MAX_CHARS = 10_000
ATTACHMENTS_MAX = 10
ATTACHMENT_KINDS = frozenset({"key_image", "study", "series", "report", "opinion"})
_REF = re.compile(r"^[0-9A-Za-z.:/_-]{1,256}$")
_CLIENT_KEY = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


def thread_create(
    *, subject_type: str, subject_id: int | None = None, patient_id: int | None = None, participants: Iterable[Any] = ()
) -> Thread:
    thread = Thread.objects.create(subject_type=subject_type, subject_id=subject_id, patient_id=patient_id)
    for user in participants:
        thread_participant_add(thread=thread, user=user)
    return thread


def thread_participant_add(*, thread: Thread, user: Any) -> ThreadParticipant:
    participant, _ = ThreadParticipant.objects.get_or_create(thread=thread, user=user)
    return participant


def thread_get_for_user(user: Any, thread_id: Any, *, request: Any = None) -> Thread:
    """The thread if the user takes part in it (and, for a thread about a patient, may still see
    that patient); otherwise NotFound, audited."""
    pk = id_parse(thread_id)
    thread = None
    if pk is not None and user is not None and getattr(user, "is_authenticated", False):
        thread = Thread.objects.filter(pk=pk, participants__user=user).first()
        if thread is not None and thread.patient_id is not None and not patients_for_user(user).filter(
            pk=thread.patient_id
        ).exists():
            thread = None
    if thread is None:
        audit_record(actor=user, action=AuditAction.READ, object_type="thread", object_id=id_for_audit(thread_id),
                     outcome=AuditOutcome.DENIED, request=request)
        raise NotFound("Thread not found.")
    read_audit_mark(object_type="thread", object_id=thread.pk, patient_id=thread.patient_id)
    return thread


def _attachments_read(raw: Any) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list) or len(raw) > ATTACHMENTS_MAX:
        raise ValidationFailed(f"attachments: a list of at most {ATTACHMENTS_MAX}.", code="invalid_attachments",
                               detail={"field": "attachments"})
    out = []
    for item in raw:
        if not isinstance(item, dict) or item.get("kind") not in ATTACHMENT_KINDS or not _REF.match(str(item.get("ref", ""))):
            raise ValidationFailed("attachments: each needs a known kind and a reference.", code="invalid_attachments",
                                   detail={"field": "attachments"})
        label = str(item.get("label", ""))[:120]
        out.append({"kind": str(item["kind"]), "ref": str(item["ref"]), "label": label})
    return out


def message_send(
    *, thread: Thread, author: Any, body: str, client_key: str, attachments: Any = None,
    parent_id: int | None = None, request: Any = None,
) -> tuple[Message, bool]:
    """Store a message once per (thread, author, client_key); returns (message, created).

    Participants are told ``message.created`` with the ids only, after commit; a client that
    missed it (reconnecting) reads ``messages_after`` from its last id, so each message is
    shown exactly once whichever way it arrives.
    """
    text = (body or "").strip()
    if not text or len(text) > MESSAGE_MAX_CHARS:
        raise ValidationFailed(f"body: 1 to {MESSAGE_MAX_CHARS} characters.", code="invalid_message",
                               detail={"field": "body"})
    if not isinstance(client_key, str) or not _CLIENT_KEY.match(client_key):
        raise ValidationFailed("client_key: 1 to 64 letters, digits, '-' or '_'.", code="invalid_client_key",
                               detail={"field": "client_key"})
    refs = _attachments_read(attachments)
    if parent_id is not None and not Message.objects.filter(pk=parent_id, thread=thread).exists():
        raise ValidationFailed("parent: not a message of this thread.", code="invalid_parent", detail={"field": "parent"})
    existing = Message.objects.filter(thread=thread, author=author, client_key=client_key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                thread=thread, author=author, body=text, client_key=client_key, attachments=refs, parent_id=parent_id
            )
            ThreadParticipant.objects.filter(thread=thread, user=author, last_read_id__lt=message.pk).update(
                last_read_id=message.pk
            )
            audit_record(actor=author, action=AuditAction.CREATE, object_type="message", object_id=message.pk,
                         patient_id=thread.patient_id, request=request,
                         detail={"thread_id": thread.pk, "attachments": len(refs)})
            event_publish_on_commit(
                groups=[thread_group(thread.pk)], event_type="message.created",
                payload={"thread_id": thread.pk, "message_id": message.pk, "author_id": author.pk},
            )
    except IntegrityError:
        # The same key sent twice at once: the other request stored it.
        return Message.objects.get(thread=thread, author=author, client_key=client_key), False
    return message, True


def messages_after(*, thread: Thread, after_id: int = 0, limit: int = 200) -> list[Message]:
    """Messages newer than ``after_id`` in order (what a reconnecting client asks for)."""
    return list(Message.objects.filter(thread=thread, pk__gt=after_id).select_related("author").order_by("pk")[:limit])


def thread_mark_read(*, thread: Thread, user: Any, message_id: int) -> ThreadParticipant:
    """Move the user's read receipt forward (never back) and tell the thread."""
    if not Message.objects.filter(thread=thread, pk=message_id).exists():
        raise ValidationFailed("message_id: not a message of this thread.", code="invalid_message_id",
                               detail={"field": "message_id"})
    participant = ThreadParticipant.objects.get(thread=thread, user=user)
    if participant.last_read_id < message_id:
        participant.last_read_id = message_id
        participant.save(update_fields=["last_read_id"])
        event_publish_on_commit(
            groups=[thread_group(thread.pk)], event_type="message.read",
            payload={"thread_id": thread.pk, "user_id": user.pk, "message_id": message_id},
        )
    return participant


def thread_participants(*, thread: Thread) -> QuerySet[ThreadParticipant]:
    return thread.participants.select_related("user").order_by("pk")
