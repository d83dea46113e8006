"""现场检查 from phones: assignments, offline batch upload, review on the web, photos and signatures.

Paths
- ``GET  /assignments?since=`` — what the calling inspector's phone downloads: the planned and in-progress
  inspections it is one of the inspectors of, each with the unit, the frozen checklist, the current results
  and version. ``cursor`` in the answer is the ``since`` of the next call, which then lists only what changed
  (with a minute's overlap: a row may come twice, the phone keeps the newest ``version``);
  ``assigned_ids`` always lists every current assignment, so the phone drops those that left it
  (submitted, reviewed, reassigned).
- ``POST /inspections/sync`` — a batch of operations made offline (see below). ``Idempotency-Key`` (1–64
  visible ASCII characters, per caller) makes a repeated request return the stored answer (header
  ``Idempotent-Replayed: true``) without applying anything again; the same key with another body → 422
  ``IDEMPOTENCY_KEY_REUSED``. The answer is stored once the whole batch has run; a batch cut off before that
  is safe to resend anyway (see below).
- ``GET  /inspections`` (filters ``status``, ``enterprise_id``, ``trigger``; newest first, cursor) and
  ``GET /inspections/{id}`` (checklist, results, findings, evidence, number of revisions): for the web.
- ``POST /inspections/{id}/review`` — submitted → reviewed, with a note.
- ``PUT  /inspections/{id}/evidence/{file_id}`` — a photo or signature (JPEG, PNG or PDF), raw body or
  multipart field ``file``; ``kind``, ``taken_at``, ``lat``, ``lon`` as query parameters; optional
  ``Content-SHA256`` (hex), ``Digest: sha-256=<base64>`` or ``Repr-Digest: sha-256=:<base64>:`` is checked.
  ``GET`` the same path returns the file.

States: planned → in_progress → submitted → reviewed. A plan (``create_planned``), a complaint, or an
inspector on the phone (operation ``create`` with a UUID the phone made) makes an inspection.

Operations (one JSON object each): ``inspection_id`` (UUID), ``device_id``, ``device_seq`` (the device's own
counter, rising with every operation it makes), ``device_time`` (without an offset: Beijing time), ``gps``
(``lat``, ``lon``, ``accuracy_m``; optional), ``type`` and its fields:
- ``create``: ``enterprise_id``, ``trigger`` (adhoc | complaint: ``trigger_ref`` names a complaint about that
  unit), ``inspectors`` (the co-inspectors; the caller is always one). The checklist is frozen now.
- ``start``: planned → in_progress. ``record``: ``results`` ``{item_id: {result: pass|fail|na|waived, note}}``
  (a planned inspection starts with it; refused once submitted). ``submit`` (or ``conclude``): optional final ``results`` and
  ``conclusion``; every checklist item must have a result. Submitting again before the review re-submits
  (amends) it.
- every operation but ``create`` names ``base_version``, the version the device last had.

How a batch is applied
- The well-formed operations of a batch are applied in one transaction (``visits.batch``: one read of what
  they touch, one write per table), each with its revision (``InspectionRevision``); a batch cut off before
  it commits leaves nothing behind, one cut off after leaves all of it, and the retry finds either.
- Operations are sorted by ``device_seq`` per device (devices in the order they first appear); gaps are fine.
  An operation whose (device, ``device_seq``) was applied already is a re-send: ``duplicate``, nothing
  happens. One that arrives after later operations of the same device (an upload lost and retried after a
  newer one got through) is applied as if in the device's order: its item results count only where no later
  operation of that device set the item, a late ``start`` only moves the start time earlier, and a ``record``
  made before a submission that arrived first amends the submitted results (and their findings).
- An edit is stale, ``conflict`` (with the current version, status and results), when someone other than
  that device (another phone, a reviewer) changed the inspection after ``base_version``. The device's own
  later operations never conflict with its earlier ones: offline, it cannot know the versions they made.
- Otherwise ``applied`` (with the new version) or ``rejected`` with a code: ``OPERATION_INVALID``,
  ``INSPECTION_NOT_FOUND`` (also for an inspection outside the caller's jurisdiction),
  ``INSPECTION_ID_TAKEN``, ``ENTERPRISE_NOT_FOUND``, ``COMPLAINT_NOT_FOUND``, ``INSPECTION_NOT_ASSIGNED``
  (the caller is not one of its inspectors), ``INSPECTION_ALREADY_SUBMITTED``,
  ``INSPECTION_ALREADY_REVIEWED``, ``BASE_VERSION_UNKNOWN``, ``CHECKLIST_ITEM_UNKNOWN``,
  ``INSPECTION_INCOMPLETE``, or a checklist error (``ENTERPRISE_KIND_UNKNOWN``).
- On submission every ✗ (``fail``) becomes a ``Finding`` (the note, else the item's text, as description);
  pass, na and waived make none. A re-submission adds findings for new ✗ only, and closes the still-open
  findings of items no longer ✗. The first submission announces ``inspection.inspection.submitted``
  (``visited_on``: the device's date of the visit in Beijing time, never after the day of receipt).

Jurisdiction: every read is scoped with ``repository.visible`` (a station: its own units; a unit's account:
its own inspections, read only). Only regulators download, sync and review; an operation on an inspection or
unit outside the caller's jurisdiction is rejected as not found.

Review: a regulator whose jurisdiction holds the unit and who is not one of the inspection's inspectors
(nobody reviews their own visit); only a submitted inspection; the review is a revision too, so a phone's
later stale edit conflicts with it.

Evidence: only the inspection's inspectors upload (not after the review, except the retry of a file already
kept); limits, digests and retries as ``services.inspection.evidence`` describes.

Files: ``api`` (routes), ``service`` (syncs, review, views), ``batch`` (applying a batch set-based),
``repository`` (every query), ``schemas`` (operations and answers), ``rules`` (plain functions: the order of
a batch, checklist completeness, findings, the visit date, a planned inspection).
"""
