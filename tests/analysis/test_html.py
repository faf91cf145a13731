from analysis_contracts import canned, contract

from lextune.analysis import analyze_document, default_playbook, render_html


def test_page_is_offline_escaped_and_highlighted():
    text = contract(state="Delaware", extra="5. NOTES\n\nThe vendor wrote <script>alert('x')</script> & more "
                                            "in this paragraph, which is long enough to be its own passage.\n\n")
    a = analyze_document(text, default_playbook(), canned, quote=canned)
    page = render_html(a)
    assert "<script>" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page and "<link" not in page
    for i, c in enumerate(a.clauses):
        assert f"<a id='clause-{i}'></a>" in page
    assert page.count("<mark ") >= len(a.clauses)
    law = next(f for f in a.flags if f.rule == "governing_law")
    assert f"href='#clause-{law.spans[0].clause}'" in page
    assert "governing law not New York" in page
    assert "Governing Law</span>" in page  # legend entry


def test_phrase_hits_get_their_own_anchors():
    text = contract(extra="5. APPROVALS\n\nCustomer may approve any change in its sole discretion, and this "
                          "paragraph is long enough to stand alone as a passage.\n\n")
    a = analyze_document(text, default_playbook(), canned, quote=canned)
    n = next(i for i, f in enumerate(a.flags) if f.rule == "phrase:sole discretion")
    page = render_html(a)
    assert f"href='#flag-{n}-span-0'" in page and f"<a id='flag-{n}-span-0'></a>" in page
    assert "<span class='hit'>sole discretion</span>" in page
