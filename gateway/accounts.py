"""Log-in. In development the demo accounts of the walking skeleton exist; elsewhere none do until the
user directory (a later issue) provides them."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from services.common.auth import Caller


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    region_code: str
    title: str
    uscc: str | None = None


DEMO_ACCOUNTS = {
    account.username: account
    for account in (
        DemoAccount("sx-province", "demo", "regulator", "140000", "山西省市场监督管理局"),
        DemoAccount("wenshui", "demo", "regulator", "141121", "文水县市场监督管理局"),
        DemoAccount("jiaocheng", "demo", "regulator", "141122", "交城县市场监督管理局"),
        DemoAccount("wenshui-s1", "demo", "regulator", "141121001", "文水县市场监督管理局第一市场监管所"),
        DemoAccount(
            "wenshui-hr", "demo", "personnel_officer", "141121", "文水县市场监督管理局（人员信息管理）"
        ),
        DemoAccount(
            "ent-demo", "demo", "enterprise", "141121", "文水县某企业（企业用户）", "91141121MA00000010"
        ),
    )
}


def authenticate(username: str, password: str, *, development: bool) -> Caller | None:
    account = DEMO_ACCOUNTS.get(username) if development else None
    if account is None or not hmac.compare_digest(account.password.encode(), password.encode()):
        return None
    return Caller(
        username=account.username, role=account.role, region_code=account.region_code, uscc=account.uscc
    )
