"""Valid form values for tests, as a browser would post them (strings)."""

from __future__ import annotations

from typing import Any


def proposal(partner_org: int) -> dict[str, Any]:
    return {
        "project_title": "工业机器人精密减速器研发",
        "category": "supported",
        "support_mode": "competitive",
        "expertise": ["robotics", "manufacturing"],
        "principal_investigator": "周工",
        "start_date": "2026-07-01",
        "end_date": "2028-06-30",
        "summary": "研制高精度 RV 减速器。",
        "objectives": "精度达到 1 弧分。",
        "approach": "齿形修形与装配工艺。",
        "expected_results": "企业标准 2 项，发明专利 5 项。",
        "partners": [{"organisation": str(partner_org), "contribution": "检测"}],
        "team": [{"name": "周工", "title": "高工", "role": "负责人", "months": "24", "organisation": ""}],
        "total_budget": "3,000,000.00",
        "requested_funding": "1000000",
        "budget": [
            {"source": "municipal_budget", "head": "equipment", "amount": "1000000"},
            {"source": "own_funds", "head": "materials", "amount": "2,000,000.00", "note": "自筹"},
        ],
        "attachments": [],
    }
