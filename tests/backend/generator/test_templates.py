"""Rendering: deterministic, and user text can never change the generated code."""

from __future__ import annotations

import ast

from backend.generator import architecture, templates


def _render(template_id: str, **kwargs) -> dict[str, str]:
    tpl = templates.template(template_id)
    arch = architecture.estimate(architecture.architecture("monolith"))
    ctx = templates.context(tpl=tpl, arch=arch, mcp_tools=[], capabilities=[], prompt="p",
                            app_type_id=tpl.app_types[0], **kwargs)
    return templates.render(ctx, tpl)


def test_rendering_is_deterministic_and_injection_proof():
    hostile = {"name": 'Evil", x=__import__("os").system("id")) #', "description": '"""\\ {oops} <script>',
               "analysis": {"entities": ['Or"der', "1x", "Customer"], "models": [{}, {"id": "m", "name": 'b"',
                                                                                      "source": "catalog"}]}}
    for template_id in ("dashboard-ml-insights", "rest-api-crud"):
        files = _render(template_id, **hostile)
        assert files == _render(template_id, **hostile)
        for path, text in files.items():
            if path.endswith(".py"):
                tree = ast.parse(text)
                assert "__import__" not in text and "<script>" not in text, path
                assert not [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                            and getattr(n.func, "id", "") == "__import__"]
