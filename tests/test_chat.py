"""WhatsApp export parsing on synthetic exports in the layouts phones actually write."""

from datetime import datetime

import pytest

from stopspread.chat import ChatFormatError, looks_like_whatsapp, parse_whatsapp

NNBSP = "\u202f"
LRM = "\u200e"


def test_android_spanish_day_first_24h_multiline_media_and_system():
    text = (
        "12/03/2024, 21:05 - Los mensajes y las llamadas están cifrados de extremo a extremo.\n"
        "12/03/2024, 21:05 - Ana: hola\n"
        "qué tal\n"
        "\n"
        "todo bien?\n"
        "13/03/2024, 9:07 - Luis Pérez: <Multimedia omitido>\n"
        "13/03/2024, 9:08 - Luis Pérez: IMG-20240313-WA0003.jpg (archivo adjunto)\n"
        "mira esto\n"
        "13/03/2024, 9:09 - Luis Pérez: Se eliminó este mensaje\n"
        "13/03/2024, 9:10 - Ana añadió a Marta\n"
    )
    messages = parse_whatsapp(text)
    assert [m.index for m in messages] == list(range(6))
    assert messages[0].system and messages[0].author is None
    assert messages[1].author == "Ana" and messages[1].text == "hola\nqué tal\n\ntodo bien?"
    assert messages[1].time == datetime(2024, 3, 12, 21, 5)
    assert messages[2].attachments == ("<omitted>",) and messages[2].text == ""
    assert messages[3].attachments == ("IMG-20240313-WA0003.jpg",) and messages[3].text == "mira esto"
    assert messages[4].system and messages[4].author == "Luis Pérez"
    assert messages[5].system and messages[5].author is None


def test_android_us_month_first_12h():
    text = (
        "3/12/24, 9:05 PM - Jake: yo\n"
        "3/13/24, 12:01 AM - Mia: <Media omitted>\n"
        "3/13/24, 12:30 PM - Jake: lunch?\n"
    )
    messages = parse_whatsapp(text)
    assert [m.time for m in messages] == [
        datetime(2024, 3, 12, 21, 5),
        datetime(2024, 3, 13, 0, 1),
        datetime(2024, 3, 13, 12, 30),
    ]
    assert messages[1].attachments == ("<omitted>",)


def test_ios_layout_with_marks_narrow_spaces_and_attachments():
    text = (
        f"{LRM}[12/03/24, 21:05:33] Grupo clase: {LRM}Los mensajes y las llamadas están cifrados "
        "de extremo a extremo.\n"
        "[12/03/24, 21:06:01] Ana: hola\n"
        f"{LRM}[12/03/24, 21:07:10] Leo: {LRM}imagen omitida\n"
        f"{LRM}[12/03/24, 21:08:00] Leo: {LRM}<adjunto: 00000012-PHOTO-2024-03-12-21-08-00.jpg>\n"
        f"[12/03/24, 9:09:00{NNBSP}p.{NNBSP}m.] Ana: vale\n"
    )
    messages = parse_whatsapp(text)
    assert messages[0].system and messages[0].author is None
    assert messages[1].time == datetime(2024, 3, 12, 21, 6, 1)
    assert messages[2].attachments == ("<omitted>",)
    assert messages[3].attachments == ("00000012-PHOTO-2024-03-12-21-08-00.jpg",)
    assert messages[4].time == datetime(2024, 3, 12, 21, 9) and messages[4].text == "vale"


def test_ios_english_month_first_with_pm():
    text = (
        f"[3/14/24, 9:05:33{NNBSP}PM] Sam: hey\n"
        f"{LRM}[3/14/24, 9:06:00{NNBSP}PM] Sam: {LRM}<attached: 00000013-VIDEO-2024-03-14-21-06-00.mp4>\n"
        f"[3/14/24, 9:07:00{NNBSP}PM] Dani: {LRM}This message was deleted.\n"
    )
    messages = parse_whatsapp(text)
    assert messages[0].time == datetime(2024, 3, 14, 21, 5, 33)
    assert messages[1].attachments == ("00000013-VIDEO-2024-03-14-21-06-00.mp4",)
    assert messages[2].system


def test_spanish_12h_day_first_is_decided_by_the_dotted_clock():
    # Both fields are at most 12: "p. m." (Spanish) means the day comes first.
    text = "05/04/24, 8:15 p. m. - Vale: hola\n06/04/24, 10:00 a. m. - Vale: buenas\n"
    messages = parse_whatsapp(text)
    assert messages[0].time == datetime(2024, 4, 5, 20, 15)
    assert messages[1].time == datetime(2024, 4, 6, 10, 0)


def test_message_text_keeps_colons_and_dashes():
    messages = parse_whatsapp("12/03/2024, 21:05 - Ana: ojo: a las 21:30 - en el parque\n")
    assert messages[0].author == "Ana" and messages[0].text == "ojo: a las 21:30 - en el parque"


def test_phone_number_authors_and_crlf():
    text = "12/03/2024, 21:05 - +34 612 34 56 78: hola\r\n12/03/2024, 21:06 - Ana: ey\r\n"
    messages = parse_whatsapp(text)
    assert messages[0].author == "+34 612 34 56 78" and messages[0].text == "hola"
    assert messages[1].text == "ey"


def test_not_a_chat_is_refused():
    for text in ["", "hello there\nthis is a note", '{"id": 1, "text": "hola"}']:
        with pytest.raises(ChatFormatError):
            parse_whatsapp(text)
        assert not looks_like_whatsapp(text)
    assert looks_like_whatsapp("12/03/2024, 21:05 - Ana: hola")


def test_impossible_date_keeps_the_message():
    messages = parse_whatsapp("31/02/2024, 21:05 - Ana: hola\n")
    assert messages[0].time is None and messages[0].text == "hola"
