"""质量安全管理人员: a unit's 质量安全总监, 质量安全员 and 主要负责人 — appointment, correction, removal,
trainings — and what a published exam result (考核结果) does to the person in every unit.

A person is known across units by the keyed hash of the ID number (``pii.Vault.lookup_hash``); the number
itself and the phone are stored sealed and shown masked unless the caller may read personal data. Events
carry no personal data.

Writers: a regulator supervising the unit, or the unit's own enterprise account (the unit keeps its own
duty system).

Files: ``api`` (routes), ``service`` (access, appointment, correction, removal, trainings, exam results),
``repository`` (every query), ``schemas`` (requests and answers), ``errors``, ``rules`` (plain functions: the
posts, ID number and phone checks, the outcome of an exam result).
"""
