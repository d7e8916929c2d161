"""Programme targets moved into the one targets table: the rows written under the older schema
arrive with both languages, their quantity, weight and year; a programme target already kept
for the roll-ups wins over one of the same kind; going back restores the old table."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text

from grantflow.db.migrate import downgrade, upgrade
from grantflow.db.session import make_engine


def test_programme_targets_move_into_targets_and_back(home: Path, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'before.db'}")
    upgrade(engine, "0006a")
    with engine.begin() as conn:
        cols = {c["name"]: c for c in inspect(conn).get_columns("programmes")}
        values = {"id": 1, "code": 5, "programme_class": "focus", "name": "重大疾病", "name_en": "diseases"}
        values.update({"state": "planned", "version": 1, "workflow": "programme", "targets": ""})
        values.update({"state_entered_at": "2026-01-01", "created_at": "2026-01-01"})
        values = {k: v for k, v in values.items() if k in cols}
        conn.execute(
            text(f"INSERT INTO programmes ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})"), values
        )
        conn.execute(text("INSERT INTO programme_targets (programme_id, kind, description, description_en, quantity, "
                          "unit, unit_en, at_least, due_year, weight) VALUES "
                          "(1, 'patent', '发明专利', 'invention patents', 12.5, '项', 'items', 1, 2017, 2),"
                          "(1, 'standard', '诊疗规范', 'norms', 100, '项', 'norms', 1, 2017, NULL)"))  # fmt: skip
        conn.execute(text("INSERT INTO targets (programme_id, project_id, kind, description, planned_hundredths, "
                          "achieved_hundredths, position, created_at) VALUES "
                          "(1, NULL, 'standard', '标准（滚动统计）', 500, 100, 1, '2026-01-01')"))  # fmt: skip
    upgrade(engine, "head")
    assert "programme_targets" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT kind, description, description_en, unit_en, planned_hundredths, weight_hundredths, due_on, "
                "position FROM targets WHERE project_id IS NULL ORDER BY position"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("standard", "标准（滚动统计）", None, None, 500, None, None, 1),  # kept: results are reported against it
        ("ip", "发明专利", "invention patents", "items", 1250, 200, "2017-12-31", 2),
    ]
    downgrade(engine, "0006a")
    with engine.connect() as conn:
        back = conn.execute(text("SELECT kind, quantity, due_year FROM programme_targets ORDER BY id")).all()
    assert [(k, float(q), y) for k, q, y in back] == [("standard", 5.0, None), ("patent", 12.5, 2017)]
    engine.dispose()
