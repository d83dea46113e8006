"""考核计划与抽取: exam plans, the verifiable draw of the managers they examine, and the units' notices."""
