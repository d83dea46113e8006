"""日管控、周排查、月调度: a unit's own self-checks, what it owes, and the duty check that finds who is behind.

One record per unit, kind and period (a repeat updates it): the daily safety check record (每日安全检查记录),
the weekly review report (每周安全排查治理报告) and the monthly dispatch meeting minutes (每月安全调度会议纪要).
Periods are written ``YYYY-MM-DD`` (a day), ``YYYY-Www`` (an ISO week; its Monday's date is accepted too) and
``YYYY-MM`` (a month).

What is owed (see ``workdays.owed_periods``): a daily record for every working day the unit operated, a weekly
or monthly one for every week or month in which it operated on at least one working day, counted from the day
it was entered into the ledger (Beijing date) and only once the period has ended (a day's record is overdue
the next day, a week's the next Monday, a month's on the 1st). While 停产停业 nothing is owed (records are
accepted and kept); from 注销、吊销、迁出 on nothing is owed and nothing more is accepted.

Writers: the unit's own enterprise account, and the regulators supervising it. The duty check
(``check_duties``) runs on a timer and keeps ``Enterprise.self_check_overdue_since`` current (the first missing
period of any kind), announcing SELF_CHECK_OVERDUE once each time a unit falls behind on a kind.

Files: ``api`` (routes), ``service`` (access, recording, compliance, the duty check), ``repository`` (every
query), ``schemas`` (the content of each kind, requests and answers), ``errors``, ``rules`` (plain functions:
who holds each kind, a unit's pauses and final date, what it owes and misses).
"""
