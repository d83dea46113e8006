"""Exam results (考核结果): publication (公布) and its consequences — registry's bar, the unit's rectification
(督促整改), the summons after repeated failures (约谈) — the regrade of a wrong key (阅卷更正), and the month's
figures of the statistics table."""
