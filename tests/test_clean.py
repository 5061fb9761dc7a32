"""The boilerplate rules: each names itself in `removed`, and none takes real article text."""
from __future__ import annotations

import re

import pytest

from pipeline.clean import LineRule, boilerplate_markers_left, clean_page
from pipeline.extract import ExtractedPage
from pipeline.template import PageBlock, block_key

LEAD = ("The central bank raised its benchmark rate by a quarter point on Thursday, its third increase this year, "
        "citing stubborn inflation in food and housing.")
SECOND = ("Economists polled last week had expected the move, although two members of the rate committee voted "
          "to hold, according to minutes published with the decision.")


def clean(*paragraphs: str, title: str = "Bank raises rates", url: str | None = None, learned=frozenset()):
    return clean_page(ExtractedPage(title=title, paragraphs=list(paragraphs)), url=url, learned=learned)


def removed_rules(cleaned) -> dict[str, str]:
    return {r.text: r.rule for r in cleaned.removed}


@pytest.mark.parametrize("marker", [
    "Advertisement", "ADVERTISEMENT", "Story continues below advertisement", "Sponsored", "Anzeige", "Publicité",
    "Publicidad", "Реклама", "विज्ञापन", "广告", "Advertisement\u00a0-\u00a0Scroll to continue",
])
def test_ad_markers_of_several_languages_are_removed(marker):
    cleaned = clean(LEAD, marker, SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {marker: "ad_marker"}


@pytest.mark.parametrize("line, rule", [
    ("Also Read: Markets slide as oil jumps", "related_link"),
    ("Read more: What the rate rise means for your mortgage", "related_link"),
    ("Click here to get the latest updates", "call_to_action"),
    ("Follow us on Twitter and Facebook", "call_to_action"),
    ("Sign up for our newsletter to get the day's top stories", "call_to_action"),
    ("Download the NewsNow app for breaking news alerts", "call_to_action"),
    ("Share this article", "call_to_action"),
    ("Read Time: 2 mins", "reading_time"),
    ("3 min read", "reading_time"),
    ("(Photo: Reuters)", "photo_credit"),
    ("The governor arrives for a news conference in Mumbai. REUTERS/Francis Mascarenhas", "photo_credit"),
    ("By Asha Menon", "byline"),
    ("Aktualisiert am 17.01.2021.", "timestamp_line"),
    ("January 13, 2020 at 08:45 AM | categories: Economy, Markets | View Comments", "metadata_line"),
    ("Lea también: El banco central sube las tasas otra vez", "related_link"),
    ("LE PUEDE INTERESAR: Qué significa la subida para su hipoteca", "related_link"),
    ("Follow The Harbour Times on Twitter and Instagram @harbourtimes", "call_to_action"),
    ("Síguenos en Telegram, Instagram y Facebook", "call_to_action"),
    ("For the latest stories download the Harbour Times apps for iOS and Android", "call_to_action"),
    ("ANZEIGE - Heute mal ausgehen? Wie wäre es mit:", "ad_marker"),
    ("Anzeige, enthält Affiliate Links", "ad_marker"),
    ("© Asha Menon/Getty Images", "photo_credit"),
    ("Crédits photos : Bestimage", "photo_credit"),
    ("Beitragsbild: Titelseite der Harbour Times", "photo_credit"),
    ("Copyright: Asha Menon", "photo_credit"),
    ("Czytaj też: Bank centralny znowu podnosi stopy", "related_link"),
    ("23.10.2018", "timestamp_line"),
    ("24. März 2004, 19:49", "timestamp_line"),
    ("March 24, 2004", "timestamp_line"),
    ("3:59 PM", "timestamp_line"),
    ("Letzte Änderung 14.02.2019", "timestamp_line"),
    ("Weitere Informationen:", "contact_label"),
    ("Press contact:", "contact_label"),
    ("Quelle: Landesregierung", "source_credit"),
    ("(Source: Harbour Board/Reuters)", "source_credit"),
    ("Weitere Infos unter www.harbour.example", "related_link"),
    ("© 2024, Harbour Times. This article is the copyrighted property of the Harbour Times.", "copyright_line"),
    ("Materiał chroniony prawem autorskim - zasady przedruków określa regulamin.", "copyright_line"),
    ("Lea: El puerto reabre el muelle viejo", "related_link"),
    ("Mire: Así quedó el muelle tras la tormenta", "related_link"),
    ("Lesen Sie hier: Der Hafen öffnet wieder", "related_link"),
    ("Never miss a story from the harbour by signing up to our newsletter today!", "call_to_action"),
    ("Sign up to get the week's best harbour stories, picked by our editors.", "call_to_action"),
    ("Want to hear about the board's next meeting? Sign up here", "call_to_action"),
    ("¡Mira lo que tiene nuestro canal de YouTube!", "call_to_action"),
    ("To read the full story, please subscribe to the Harbour Times.", "paywall_prompt"),
    ("If you're already a subscriber, log in to read on.", "paywall_prompt"),
    ("Pour lire la suite", "paywall_prompt"),
    ("We may receive compensation when you click on links to products we review.", "ad_marker"),
    ("*Werbung. Dieser Beitrag enthält Werbung für eine Hafenrundfahrt.", "ad_marker"),
    ("Du musst eingeloggt sein, um Kommentare zu schreiben!", "call_to_action"),
    ("Filed in April 2024. Category : Harbour news", "metadata_line"),
    ("pier.html - Created 03-10-2004 - Last Modified: 03-10-2004", "metadata_line"),
    ("Beitragsbild: Der Hafen am 2.4.2019, Ausschnitt.", "photo_credit"),
    ("Image illustrative : le port au lever du jour", "photo_credit"),
    ("Quelle: Hafenverband (HV), 02. Februar 2022, Kiel", "source_credit"),
    ("Ten tekst przeczytasz w mniej niż minutę", "reading_time"),
    ("Video verfügbar bis 28.02.2025", "video_block"),
    ("Related video: Harbour board votes to reopen the pier", "video_block"),
])
def test_promo_reading_time_and_credit_lines_are_removed(line, rule):
    cleaned = clean(LEAD, line, SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {line: rule}


@pytest.mark.parametrize("sentence", [
    "Volunteers can sign up for the beach clean-up at the harbour office until Friday.",
    "The harbour's newsletter, first printed in 1962, now reaches 4,000 homes.",
    "Lea said the pier would reopen in May.",
    "The category: small boats under ten metres, the board said, would pay nothing.",
])
def test_sentences_that_only_resemble_prompts_or_labels_are_kept(sentence):
    assert clean(LEAD, sentence, SECOND).paragraphs == [LEAD, sentence, SECOND]


def test_sentences_about_apps_copyright_advertising_photos_and_dates_are_kept():
    app = "Residents were told to download the council's new parking app before the charges start in March."
    copyright = "© The ruling on copyright, which the court published on Friday, runs to 80 pages."
    werbung = "Werbung für Alkohol soll nach dem Entwurf im Fernsehen nur noch nach 23 Uhr laufen."
    photo = "Foto: Die Polizei sperrte die Straße am Montag für drei Stunden."
    year = "In 2004, the bank raised rates twice."
    speech = "The governor said:"
    source = "Source: the central bank's own figures, which were revised in March. They show a slowdown."
    kept = [LEAD, app, copyright, werbung, photo, year, speech, source, SECOND]
    assert clean(*kept).paragraphs == kept


def test_paragraphs_mentioning_advertisement_or_watch_are_kept():
    advert = "The regulator said the advertisement, which ran on three channels, had misled viewers about fees."
    watch = "Investors will watch the bank's next meeting closely for signs of a pause."
    cleaned = clean(LEAD, advert, watch, SECOND)
    assert cleaned.paragraphs == [LEAD, advert, watch, SECOND]
    assert cleaned.removed == []


def test_a_marker_word_left_counts_only_as_a_paragraph_of_its_own_and_a_phrase_anywhere():
    assert boilerplate_markers_left("The pier reopened.\n\n- ADVERTISEMENT -\n\nRepairs took a year.") == [
        "Advertisement"]
    assert boilerplate_markers_left("The campaign ran carefully sculpted advertisements and tightly controlled "
                                    "events.\n• Identify the message as an advertisement in some reasonable way.") == []
    assert boilerplate_markers_left("If you are on the app, click here to watch live.\nAdditional reporting by "
                                    "Ana Ruiz; Editing by Tom Lee") == ["Click here to", "Reporting by", "Editing by"]


def test_featured_video_header_and_its_title_are_removed():
    cleaned = clean(LEAD, SECOND, "Featured Video Of The Day", "Flamingos Return To Mumbai Creek")
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert [r.rule for r in cleaned.removed] == ["video_block", "video_block"]


def test_watch_line_with_a_video_title_is_removed():
    cleaned = clean(LEAD, "Watch: Governor explains the decision", SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {"Watch: Governor explains the decision": "video_block"}


def test_trending_header_takes_its_headlines_but_stops_at_a_sentence():
    cleaned = clean(LEAD, "Trending", "Ten Dead In Highway Crash", "Gold Hits Record High", SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert set(removed_rules(cleaned).values()) == {"related_block"}


def test_related_header_takes_headlines_with_their_leads():
    block = ["More from The Harbour", "Ferry Fares Rise Again", "The operator blamed fuel costs for the third rise.",
             "Lighthouse Reopens to Visitors", "Volunteers repainted the tower over the winter.",
             "Market Moves to the Quay"]
    cleaned = clean(LEAD, SECOND, *block)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert set(removed_rules(cleaned).values()) == {"related_block"}


def test_a_sentence_after_the_last_related_headline_is_the_article_not_a_lead():
    cleaned = clean(LEAD, "Related", "Ferry Fares Rise Again", "The operator blamed fuel costs.", SECOND)
    assert cleaned.paragraphs == [LEAD, "The operator blamed fuel costs.", SECOND]


@pytest.mark.parametrize("header", ["Auch interessant:", "Mehr zum Thema", "Lire aussi", "Czytaj także:",
                                    "Schon gelesen?", "Notas relacionadas", "Weitere aktuelle Themen aus der Arbeitswelt",
                                    "Das Thema könnte dich auch interessieren:", "Empfohlene Beiträge"])
def test_related_headers_of_several_languages_take_their_headlines(header):
    cleaned = clean(LEAD, header, "Zinsen steigen erneut", "Gold auf Rekordhoch", SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert set(removed_rules(cleaned).values()) == {"related_block"}


@pytest.mark.parametrize("bio", [
    "Asha Menon is a senior reporter for The Harbour Times. Follow her on X @ashamenon.",
    "Tom Hale is an associate editor and columnist covering shipping and the ports.",
    # A long one, with its own invitation to subscribe: a bio may run to a paragraph of its own.
    "Tom Hale is an associate editor and opinion writer for The Harbour Times. He grew up on the east coast and "
    "worked on the ferries for a decade before he turned to writing about the ports, the fishing fleet and the "
    "people who keep both going. He is a trained engineer, but for the last six years he has devoted his time to "
    "news and analysis. He lives by the sea with his two children and a very old dog. Hobbies include sailing, "
    "cooking and losing at chess. Sign up to get all of my posts by email right here:",
    # Whatever the trade, a "Name is ..." paragraph with a follow prompt after its first sentence is an author box.
    "Mara Quint is the founder of a small design studio by the harbour and writes about boats. Follow us on",
    "Mara Quint is the founder of a small design studio by the harbour. Follow her on Instagram @maraquint.",
])
def test_an_authors_bio_at_the_end_is_removed(bio):
    cleaned = clean(LEAD, SECOND, bio)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {bio: "author_bio"}


def test_a_sentence_about_a_reporter_inside_the_story_stays():
    about = "Evan Hale is a reporter for the Harbour Times who was detained at the port last March."
    assert clean(LEAD, about, SECOND, "He declined to comment.").paragraphs == [
        LEAD, about, SECOND, "He declined to comment."]


CAPS_HEADLINE = "FERRY OPERATOR RAISES FARES FOR THE THIRD TIME THIS YEAR"
LINKED_SENTENCE = "Read the full minutes of the rate committee"


def with_blocks(paragraphs: list[str], linked: set[str]):
    blocks = {block_key(p): PageBlock(frozenset({n}), 1.0 if p in linked else 0.0, len(p.split()))
              for n, p in enumerate(paragraphs)}
    return clean_page(ExtractedPage(title="Bank raises rates", paragraphs=paragraphs, blocks=blocks))


def test_a_linked_headline_in_capitals_inside_the_body_is_removed():
    cleaned = with_blocks([LEAD, CAPS_HEADLINE, SECOND], linked={CAPS_HEADLINE})
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {CAPS_HEADLINE: "linked_headline"}


@pytest.mark.parametrize("line, linked", [(CAPS_HEADLINE, set()), (LINKED_SENTENCE, {LINKED_SENTENCE})])
def test_an_unlinked_capitals_line_or_a_linked_ordinary_line_stays(line, linked):
    assert with_blocks([LEAD, line, SECOND], linked=linked).paragraphs == [LEAD, line, SECOND]


def test_a_table_row_is_not_a_metadata_line():
    row = "| Harbour | Arrivals | Departures |"
    assert clean(LEAD, row, SECOND).paragraphs == [LEAD, row, SECOND]


def test_lead_printed_before_the_dateline_is_kept_once_in_body_order():
    cleaned = clean(SECOND, "Advertisement", "Mumbai:", LEAD, SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert cleaned.dateline == "Mumbai"
    assert [r.rule for r in cleaned.removed] == ["repeated", "ad_marker", "dateline"]


def test_pull_quote_contained_in_a_paragraph_is_removed():
    quote = '"We will not hesitate to act again if prices keep rising," the governor told reporters.'
    paragraph = quote + " He did not say how large a further rise could be."
    cleaned = clean(LEAD, quote, SECOND, paragraph)
    assert cleaned.paragraphs == [LEAD, SECOND, paragraph]
    assert removed_rules(cleaned) == {quote: "repeated"}


def test_quote_repeated_by_design_inside_one_paragraph_is_kept():
    paragraph = ('"Prices must come down," she said. Then, to applause, she said it again: '
                 '"Prices must come down."')
    cleaned = clean(LEAD, paragraph, SECOND)
    assert cleaned.paragraphs == [LEAD, paragraph, SECOND]


def test_short_real_paragraphs_are_kept_even_when_repeated():
    cleaned = clean(LEAD, "He declined to comment.", SECOND, "He declined to comment.", "No.")
    assert cleaned.paragraphs == [LEAD, "He declined to comment.", SECOND, "He declined to comment.", "No."]


@pytest.mark.parametrize("first, dateline, agency", [
    ("MOSCOW (Reuters) - " + LEAD, "MOSCOW", "Reuters"),
    ("NEW DELHI: " + LEAD, "NEW DELHI", None),
    ("Washington, Nov 25 (Reuters) - " + LEAD, "Washington", "Reuters"),
    ("LONDON, Nov 25 (AFP) — " + LEAD, "LONDON", "AFP"),
    ("New Delhi, Nov 25 (PTI) " + LEAD, "New Delhi", "PTI"),
    ("LISBON (GWS) - " + LEAD, "LISBON", "GWS"),
    ("Lisbon, Nov 19 (GWS): " + LEAD, "Lisbon", "GWS"),
])
def test_dateline_prefix_is_moved_off_the_first_paragraph(first, dateline, agency):
    cleaned = clean(first, SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert cleaned.dateline == dateline
    assert cleaned.syndication.agency == agency
    assert [r.rule for r in cleaned.removed] == ["dateline"]


@pytest.mark.parametrize("first", [
    "CLAIM: The photo shows the minister at the rally last week, according to posts shared online.",
    "Update: The ministry later said the figures had been revised after an error in one state.",
    "FANDUEL SPORTSBOOK LINE: Alabama by 4.5; over/under is 151.5 points for the game.",
])
def test_labels_ending_in_a_colon_are_not_datelines(first):
    cleaned = clean(first, SECOND)
    assert cleaned.dateline is None
    assert cleaned.paragraphs == [first, SECOND]


def test_a_name_and_colon_after_the_first_paragraph_is_a_speaker_not_a_dateline():
    answer = "Felix Stalder: Knowing who the patients met matters more than where they were, he said in the interview."
    cleaned = clean(LEAD, answer, SECOND)
    assert cleaned.dateline is None
    assert cleaned.paragraphs == [LEAD, answer, SECOND]


def test_a_capitals_dateline_is_still_found_in_the_second_paragraph():
    cleaned = clean("A summary of the decision in one line.", "MOSCOW (Reuters) - " + LEAD, SECOND)
    assert cleaned.dateline == "MOSCOW"
    assert cleaned.paragraphs == ["A summary of the decision in one line.", LEAD, SECOND]


@pytest.mark.parametrize("prompt", [
    "If you're on the Harbour News app, click here to watch live",
    "Readers on mobile: tap here for the full gallery",
    "Subscribe to Harbour Premium to bookmark this article",
    "Join our commenting forum",
])
def test_a_short_prompt_to_click_subscribe_or_join_is_a_call_to_action(prompt):
    cleaned = clean(LEAD, prompt, SECOND)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {prompt: "call_to_action"}


def test_a_long_sentence_mentioning_click_here_stays():
    sentence = ("The ministry's website, where residents were told to click here to register, crashed within minutes "
                "of the announcement on Thursday morning, officials said.")
    assert clean(LEAD, sentence, SECOND).paragraphs == [LEAD, sentence, SECOND]


@pytest.mark.parametrize("notice", [
    "(Except for the headline, this story has not been edited by NDTV staff and is published from a syndicated feed.)",
    "(Only the headline and picture of this report may have been reworked by the Business Standard staff; "
    "the rest of the content is auto-generated from a syndicated feed.)",
    "This story has been published from a wire agency feed without modifications to the text.",
])
def test_syndication_notice_moves_into_syndication(notice):
    cleaned = clean(LEAD, SECOND, notice)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert cleaned.syndication.syndicated is True
    assert cleaned.syndication.notice == notice
    assert removed_rules(cleaned) == {notice: "syndication_notice"}


@pytest.mark.parametrize("credit, agency", [
    ("(Reuters)", "Reuters"), ("- PTI", "PTI"), ("IANS", "IANS"), ("ANI", "ANI"), ("(With inputs from AFP)", "AFP"),
    ("Copyright 2023 The Associated Press. All rights reserved.", "AP"),
])
def test_agency_credit_line_names_the_wire(credit, agency):
    cleaned = clean(LEAD, SECOND, credit)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert cleaned.syndication == type(cleaned.syndication)(syndicated=True, agency=agency, notice=None)


@pytest.mark.parametrize("credit", [
    "(Reporting by Asha Menon in Mumbai; Editing by Tom Hale)",
    "Rédigé par Asha Menon, édité par Tom Hale",
    "Editado en español por Tom Hale",
])
def test_reporting_credit_is_removed(credit):
    cleaned = clean(LEAD, SECOND, credit)
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {credit: "agency_credit"}


def test_credit_glued_to_the_last_paragraph_is_taken_off():
    cleaned = clean(LEAD, SECOND + " - PTI")
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert cleaned.syndication.agency == "PTI"
    assert removed_rules(cleaned) == {"- PTI": "agency_credit"}


def test_an_agency_quoted_as_a_source_is_not_the_wire():
    quoted = '"There is still a threat," RIA quoted Peskov as saying, and Reuters reported similar remarks.'
    cleaned = clean(LEAD, quoted, "AFP reported that talks would resume on Friday in Geneva with both delegations.")
    assert cleaned.syndication.agency is None
    assert cleaned.syndication.syndicated is False
    assert cleaned.removed == []


def test_the_agency_own_site_is_not_syndicated():
    cleaned = clean("LONDON (Reuters) - " + LEAD, SECOND, url="https://www.reuters.com/markets/rates-2023-11-25/")
    assert cleaned.syndication.agency == "Reuters"
    assert cleaned.syndication.syndicated is False


def test_publisher_line_rule_applies_only_to_its_publisher():
    footer = "Our Standards: The Thomson Reuters Trust Principles."
    on_reuters = clean(LEAD, SECOND, footer, url="https://www.reuters.com/markets/story-1")
    elsewhere = clean(LEAD, SECOND, footer, url="https://example.org/story-1")
    assert removed_rules(on_reuters) == {footer: "publisher:reuters.com:trust_principles"}
    assert footer in elsewhere.paragraphs


def test_learned_line_is_removed_and_stays_learnable():
    promo = "Get the Sunday edition delivered"
    cleaned = clean(LEAD, promo, SECOND, learned={promo.casefold()})
    assert cleaned.paragraphs == [LEAD, SECOND]
    assert removed_rules(cleaned) == {promo: "learned"}
    assert promo in cleaned.learnable_lines


def test_quoted_and_long_lines_are_not_learnable():
    quoted = '"Build the wall," the crowd chanted.'
    cleaned = clean(LEAD, quoted, "Officials met on Friday.", SECOND)
    assert cleaned.learnable_lines == ["Officials met on Friday."]


def test_every_version_of_the_rules_is_recorded():
    assert clean(LEAD).rules_version.startswith("4+")


def test_a_parenthesised_acronym_inside_a_sentence_is_not_a_wire_credit():
    first = "The World Health Organization (WHO) - the UN's health agency - said on Friday that cases were falling."
    cleaned = clean(first, SECOND)
    assert cleaned.dateline is None and cleaned.syndication.agency is None
    assert cleaned.paragraphs == [first, SECOND]


STANDFIRST = "Two members of the committee wanted a larger rise, and markets expect more before summer."


def test_the_standfirst_opens_the_body():
    page = ExtractedPage(title="Bank raises rates", paragraphs=[LEAD, SECOND], standfirst=STANDFIRST)
    assert clean_page(page).paragraphs == [STANDFIRST, LEAD, SECOND]


def test_a_standfirst_the_body_holds_already_is_not_added_again():
    page = ExtractedPage(title="Bank raises rates", paragraphs=[LEAD, STANDFIRST, SECOND], standfirst=STANDFIRST)
    cleaned = clean_page(page)
    assert cleaned.paragraphs == [LEAD, STANDFIRST, SECOND]
    assert cleaned.summary_paragraphs == 0


def test_a_standfirst_that_is_boilerplate_is_not_added():
    page = ExtractedPage(title="Bank raises rates", paragraphs=[LEAD, SECOND], standfirst="Sign up for our newsletter")
    assert clean_page(page).paragraphs == [LEAD, SECOND]


def test_key_points_open_the_body_after_the_standfirst():
    points = ["The rate is now 4.5%, its highest since 2008.", "Two members voted for a larger rise."]
    page = ExtractedPage(title="Bank raises rates", paragraphs=[LEAD, SECOND], standfirst=STANDFIRST, key_points=points)
    cleaned = clean_page(page)
    assert cleaned.paragraphs == [STANDFIRST, *points, LEAD, SECOND]
    assert cleaned.summary_paragraphs == 3


def test_a_line_rule_with_needles_is_searched_only_in_lines_holding_one():
    rule = LineRule("ad_marker", re.compile(r"\bpaid for by\b", re.IGNORECASE), 100, ("paid",))
    assert rule.matches("This box was PAID FOR BY the harbour board")
    assert not rule.matches("The harbour board met on Monday")
