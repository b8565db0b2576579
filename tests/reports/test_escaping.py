"""Model text is shown as text: model names, predictions, answers and judge replies with HTML in them."""

from __future__ import annotations

import re

from jamba_eval.reports.site import environment

from .conftest import XSS


def html_pages(site):
    return {p: p.read_text(encoding="utf-8") for p in site.index.parent.rglob("*.html")}


def test_no_page_contains_the_payload_as_markup(site):
    pages = html_pages(site)
    assert len(pages) >= 9
    for path, html in pages.items():
        assert XSS not in html, path
        assert "<img src=x" not in html and "window.__pwned = 1</script>" not in html, path
        # the only scripts are the site's own sorting script, loaded from a file
        assert re.findall(r"<script\b[^>]*>", html) == [
            f'<script src="{"../" if path.parent.name == "ruler" else ""}static/sort.js" defer>'
        ], path


def test_the_payload_is_shown_escaped_where_the_model_wrote_it(site):
    escaped = "&lt;/pre&gt;&lt;script&gt;window.__pwned = 1&lt;/script&gt;"
    out = site.index.parent
    weak = (out / "ruler" / "ruler-weak-model.html").read_text()
    assert "&lt;/pre&gt;&lt;script&gt;window.__pwned =" in weak  # the prediction, cut by the answer budget
    assert escaped in (out / "arena.html").read_text()  # the judge's reply
    cli = (out / "ruler" / "ruler-cli-xss.html").read_text()
    assert "onerror=&#34;window.__pwned = 2&#34;&gt;" in cli  # the model's name in the heading


def test_autoescaping_is_on_whatever_the_template_name():
    env = environment()
    assert env.autoescape is True  # select_autoescape() would leave *.html.j2 unescaped
    assert env.from_string("{{ text }}").render(text='<b a="1">x</b>') == "&lt;b a=&#34;1&#34;&gt;x&lt;/b&gt;"


def test_content_security_policy_forbids_inline_scripts(site):
    index = site.index.read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', index).group(1)
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "default-src 'none'" in policy
