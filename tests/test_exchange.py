"""Import and export per shared/content-format.md."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Item, Revision, TaxonomyTerm
from portal.services.items import SYSTEM, front_matter
from portal.services.library import export_library, import_library

from .conftest import CONTENT


def write(folder: Path, rel: str, text: str) -> Path:
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def count(model=Item) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_starter_library_meets_the_brief(library_app):
    with library_app.app_context():
        by_type = dict(db.session.execute(select(Item.type, func.count()).group_by(Item.type)).all())
        assert sum(by_type.values()) >= 20
        assert by_type["lesson"] >= 6 and by_type["profile"] >= 5
        delft = db.session.scalar(select(Item).where(Item.slug == "netwerk-sleutelfiguren-delft"))
        assert [m.cbs_code for m in delft.municipalities] == ["GM0503"]
        for profile in db.session.scalars(select(Item).where(Item.type == "profile")):
            assert profile.visibility != "public"
            assert profile.contact_email.endswith("@example.org")
            assert profile.consent is not None


def test_import_twice_updates_never_duplicates(empty_app):
    with empty_app.app_context():
        first = import_library(SYSTEM, CONTENT)
        n, revs = count(), count(Revision)
        second = import_library(SYSTEM, CONTENT)
        assert first.ok and second.ok
        assert count() == n == len(first.created)
        assert second.created == [] and second.updated == []
        assert len(second.unchanged) == n
        assert count(Revision) == revs  # nothing changed, no new revision


def test_changed_file_updates_item_and_adds_revision(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/a.md", """
        ---
        title: Eerste versie
        ---
        Tekst.
        """)
    with empty_app.app_context():
        import_library(SYSTEM, lib)
        write(lib, "practices/a.md", """
            ---
            title: Tweede versie
            themes: [polarisatie]
            ---
            Nieuwe tekst.
            """)
        report = import_library(SYSTEM, lib)
        assert report.updated == ["practice/a"]
        item = db.session.scalar(select(Item).where(Item.slug == "a"))
        assert item.title == "Tweede versie" and item.themes == ["polarisatie"]
        assert [r.title for r in item.revisions] == ["Eerste versie", "Tweede versie"]


def test_bad_files_reported_good_files_imported(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/goed.md", """
        ---
        title: Goed bestand
        phase: [opzetten]
        ---
        Inhoud.
        """)
    write(lib, "practices/slecht-thema.md", """
        ---
        title: Slecht thema
        themes: [polarisatie, onbekend-thema]
        ---
        """)
    write(lib, "lessons/kapotte-yaml.md", """
        ---
        title: "niet afgesloten
        outcome: succes
        ---
        """)
    write(lib, "lessons/slechte-datum.md", """
        ---
        title: Datum
        date: 20-07-2018
        ---
        """)
    write(lib, "profiles/openbaar.md", """
        ---
        title: Iemand
        visibility: public
        consent: 2024-01-01
        ---
        """)
    write(lib, "practices/gemeente.md", """
        ---
        title: Gemeente bestaat niet
        municipality: Atlantis
        ---
        """)
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert report.created == ["practice/goed"]
        assert count() == 1
        problems = {Path(p.path).name: p for p in report.problems}
        assert set(problems) == {"slecht-thema.md", "kapotte-yaml.md", "slechte-datum.md", "openbaar.md", "gemeente.md"}
        theme = problems["slecht-thema.md"]
        assert theme.key == "themes" and "onbekend-thema" in theme.message and theme.line == 3
        assert problems["kapotte-yaml.md"].line is not None
        assert problems["slechte-datum.md"].key == "date" and "JJJJ-MM-DD" in problems["slechte-datum.md"].message
        assert problems["openbaar.md"].key == "visibility"
        assert "Atlantis" in problems["gemeente.md"].message
        # every problem names its file
        assert all(str(lib) in str(p) for p in report.problems)


def test_cli_import_exits_non_zero_on_any_refused_file(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/goed.md", "---\ntitle: Goed\n---\n")
    write(lib, "practices/slecht.md", "---\ntitle: Slecht\nevidence: heel-goed\n---\n")
    result = empty_app.test_cli_runner().invoke(args=["import", str(lib)])
    assert result.exit_code == 1
    assert "slecht.md" in result.output and "evidence" in result.output
    assert "1 nieuw" in result.output


def test_unknown_keys_kept_and_taxonomy_extends_lists(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "taxonomy.yaml", """
        themes:
          buurtbemiddeling: {nl: Buurtbemiddeling, en: Neighbourhood mediation}
        """)
    write(lib, "lessons/les.md", """
        ---
        title: Een les
        themes: [buurtbemiddeling]
        eigen_sleutel: waarde
        bron: {naam: rapport, jaar: 2018}
        ---
        ## Situatie
        """)
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert report.ok, report.problems
        item = db.session.scalar(select(Item).where(Item.slug == "les"))
        assert item.extra == {"eigen_sleutel": "waarde", "bron": {"naam": "rapport", "jaar": 2018}}
        assert db.session.scalar(select(TaxonomyTerm).where(TaxonomyTerm.key == "buurtbemiddeling"))
        meta = front_matter(item)
        assert meta["eigen_sleutel"] == "waarde"


def test_folder_is_default_type_front_matter_wins(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/eigenlijk-een-les.md", "---\ntype: lesson\ntitle: Les\noutcome: gemengd\n---\n")
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert report.created == ["lesson/eigenlijk-een-les"]


def test_profile_without_consent_becomes_draft(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "profiles/zonder.md", "---\ntitle: Zonder toestemming\ncontact_email: a@example.org\n---\n")
    with empty_app.app_context():
        import_library(SYSTEM, lib)
        assert db.session.scalar(select(Item.status).where(Item.slug == "zonder")) == "draft"


def test_municipality_by_code_name_or_list(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/a.md", "---\ntitle: A\nmunicipality: GM0503\n---\n")
    write(lib, "practices/b.md", "---\ntitle: B\nmunicipality: [\"'s-Hertogenbosch\", Súdwest-Fryslân]\n---\n")
    write(lib, "practices/c.md", "---\ntitle: C\nmunicipality: hengelo\n---\n")
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert report.ok, report.problems
        names = {i.slug: [m.name for m in i.municipalities] for i in db.session.scalars(select(Item))}
        assert names == {"a": ["Delft"], "b": ["'s-Hertogenbosch", "Súdwest-Fryslân"], "c": ["Hengelo (O.)"]}


def test_round_trip_export_import_gives_same_items(app, tmp_path, empty_app):
    out = tmp_path / "export"
    with app.app_context():
        n = export_library(SYSTEM, out)
        original = {(i.type, i.slug): (front_matter(i), i.body) for i in db.session.scalars(select(Item))}
    assert n == len(original) >= 20
    with empty_app.app_context():
        report = import_library(SYSTEM, out)
        assert report.ok, report.problems
        copy = {(i.type, i.slug): (front_matter(i), i.body) for i in db.session.scalars(select(Item))}
    assert copy == original


def test_export_writes_content_format(app, tmp_path):
    out = tmp_path / "export"
    with app.app_context():
        export_library(SYSTEM, out)
    text = (out / "practices" / "netwerk-sleutelfiguren-delft.md").read_text(encoding="utf-8")
    assert text.startswith("---\ntype: practice\ntitle: ")
    assert "municipality: Delft" in text
    assert sorted(p.name for p in out.iterdir()) == ["lessons", "practices", "profiles"]


def test_missing_folder_is_reported(empty_app, tmp_path):
    with empty_app.app_context():
        report = import_library(SYSTEM, tmp_path / "bestaat-niet")
        assert not report.ok and "bestaat niet" in report.problems[0].message


def test_starter_content_is_untouched_by_tests():
    # the suite imports content/ read-only: a guard against a test writing into it
    assert (CONTENT / "practices").is_dir()
    assert not list(CONTENT.glob("**/*.tmp"))


def test_copy_of_content_folder_imports(empty_app, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(CONTENT, copy)
    with empty_app.app_context():
        assert import_library(SYSTEM, copy).ok


def test_every_problem_of_a_file_is_reported_in_dutch_with_its_line(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/veel-fout.md", """
        ---
        title: Veel fout
        date: 2026-13-45
        themes: [onbekend-thema]
        evidence: heel-goed
        started: gisteren
        ---
        """)
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
    problems = {p.key: p for p in report.problems}
    assert set(problems) == {"date", "themes", "evidence", "started"}
    assert problems["date"].line == 3 and "JJJJ-MM-DD" in problems["date"].message
    assert problems["started"].line == 6
    assert not any("month must be" in str(p) for p in report.problems)


def test_dates_survive_the_round_trip_as_dates(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "lessons/l.md", "---\ntitle: L\ndate: 2018-07-20\nreviewed: '2024-01-02'\n---\n")
    with empty_app.app_context():
        assert import_library(SYSTEM, lib).ok
        item = db.session.scalar(select(Item).where(Item.slug == "l"))
        from datetime import date

        assert item.date == date(2018, 7, 20) and item.reviewed == date(2024, 1, 2)


def test_empty_or_wrong_folder_is_a_problem_and_consent_gap_a_note(empty_app, tmp_path):
    (tmp_path / "leeg").mkdir()
    with empty_app.app_context():
        report = import_library(SYSTEM, tmp_path / "leeg")
        assert not report.ok and "practices/" in report.problems[0].message
    lib = tmp_path / "lib"
    write(lib, "profiles/p.md", "---\ntitle: P\n---\n")
    result = empty_app.test_cli_runner().invoke(args=["import", str(lib)])
    assert result.exit_code == 0
    assert "LET OP" in result.output and "toestemming" in result.output
    assert "0 problemen" in result.output
    write(lib, "practices/x.md", "---\ntitle: X\nphase: [nul]\n---\n")
    result = empty_app.test_cli_runner().invoke(args=["import", str(lib)])
    assert "1 probleem." in result.output


def test_yaml_tags_and_bombs_are_refused_safely(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/tag.md", "---\ntitle: !!python/object/apply:os.system ['echo hacked']\n---\n")
    write(lib, "practices/lijst.md", "---\n- een\n- twee\n---\n")
    bomb = "---\na: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\ntitle: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n---\n"
    (lib / "practices" / "bom.md").write_text(bomb, encoding="utf-8")
    (lib / "practices" / "latin1.md").write_bytes("---\ntitle: caf\xe9\n---\n".encode("latin-1"))
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert count() == 0
    assert {Path(p.path).name for p in report.problems} == {"tag.md", "lijst.md", "bom.md", "latin1.md"}


def test_yaml_aliases_are_refused(empty_app, tmp_path):
    lib = tmp_path / "lib"
    write(lib, "practices/lach.md", "---\ntitle: Lach\na: &a [lol, lol]\nb: [*a, *a]\n---\n")
    write(lib, "practices/binair.md", "---\ntitle: Binair\nblob: !!binary aGFsbG8=\n---\n")
    with empty_app.app_context():
        report = import_library(SYSTEM, lib)
        assert count() == 0
    messages = {Path(p.path).name: p.message for p in report.problems}
    assert "verwijzingen" in messages["lach.md"]
    assert "kan niet bewaard" in messages["binair.md"]


def test_control_characters_in_an_imported_body_are_cleaned_once(tmp_path):
    """A Markdown body with a form feed and a NUL (a file saved from a word
    processor) is imported clean; importing it again changes nothing."""
    from .conftest import make_app
    from portal.services.items import SYSTEM
    from portal.services.library import import_library

    lib = tmp_path / "lib" / "lessons"
    lib.mkdir(parents=True)
    (lib / "geplakt.md").write_text("---\ntitle: Geplakte les\nvisibility: public\n---\nEerste\x0cpagina\x00 en verder.\r\n",
                                    encoding="utf-8")
    app = make_app(tmp_path / "app", content=False)
    with app.app_context():
        first = import_library(SYSTEM, tmp_path / "lib")
        assert first.ok and len(first.created) == 1
        from portal.extensions import db
        from portal.models import Item
        from sqlalchemy import select

        body = db.session.scalar(select(Item.body).where(Item.slug == "geplakt"))
        assert body == "Eerste pagina en verder."
        again = import_library(SYSTEM, tmp_path / "lib")
        assert again.ok and not again.created and not again.updated
