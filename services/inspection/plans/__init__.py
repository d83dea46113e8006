"""执法检查人员名录、双随机检查计划、半年现场检查责任 (roster, double-random plans, half-year visit duty).

* Roster: inspectors of a county or a station (``region_code``), active or not, with their declared
  conflicts of interest (利害关系回避). A regulator manages the inspectors whose region lies in its own.
* Plans: for a county or station and a period, the units that must be visited (locked, special and key units
  whose visit falls due by the period's end — ``draw.select_must_visit``) plus a draw of the remaining
  active units (``operating_status`` normal, production or sales) at ``ratio``, rounded up; two inspectors
  per unit from the roster of the plan's region. The draw is ``draw.ALGORITHM``; the seed (generated, or given
  by the bureau, e.g. a public lottery number) and every input are recorded with the plan, so that
  ``GET /plans/{id}/verify`` (or anyone with ``GET /plans/{id}``) can re-run it. Drafts are never deleted: every
  draw made stays listed, so a bureau cannot quietly draw again until it likes the result. Publishing
  creates one ``planned`` inspection per unit and announces ``inspection.plan.published``; it is refused
  while a unit has fewer than two eligible inspectors; a published plan never changes.
* One open visit per unit: a unit that already has an open (planned or in-progress) inspection of another
  plan — a county's and one of its stations', or two campaigns of a county — is left out of the draw (neither
  must-visit nor candidate) and listed in ``inputs.already_planned`` (covered by ``inputs_sha256``). Publishing
  checks again, as another plan may have been published since the draft was drawn: 409
  ``PLAN_UNITS_ALREADY_PLANNED`` with the units, and nothing is written; the bureau draws a new plan. Once that
  inspection is submitted or reviewed, the unit may be planned again.
* Visit duty (半年内现场检查不少于1次): each locked unit's last on-site visit (latest submitted or reviewed
  inspection, on the device's submission date or else the date received), the next due date
  (``draw.visit_due_on``) and whether it is overdue.

Units closed for good (注销、吊销、迁出) are neither planned nor tracked; suspended ones (停产、停业) are left
out of the random draw but keep their must-visit duty.

Files: ``api`` (routes), ``service`` (roster, plans, visit duty), ``repository`` (every query), ``schemas``;
the draw's plain rules are ``services.inspection.draw``.
"""
