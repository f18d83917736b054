"""Vietnamese text: NFC, folding, proper case, TCVN3/VNI/cp1258, death remarks."""
import csv
import importlib.resources
import unicodedata

import pytest

from portal.vn.text import (
    LEGACY_TCVN3,
    LEGACY_VNI,
    decode_bytes,
    decode_legacy,
    detect_legacy,
    encode_cp1258,
    encode_legacy,
    fold,
    font_encoding,
    is_upper_font,
    mentions_death,
    nfc,
    proper_case,
)


def nfd(s):
    return unicodedata.normalize("NFD", s)


def encoding_rows():
    path = importlib.resources.files("portal") / "data" / "vietnamese_legacy_encodings.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


ROWS = encoding_rows()
LETTERS = [r["unicode"] for r in ROWS]
# UniKey "Unicode tổ hợp": precomposed ê + combining tilde.
TO_HOP = "Nguy\u00ea\u0303n"


# ------------------------------------------------------------------ nfc / fold


@pytest.mark.parametrize(
    "raw, expected",
    [
        (None, None),
        ("", ""),
        ("  Nguyễn\u00a0 Văn   An \t", "Nguyễn Văn An"),
        (nfd("Nguyễn Văn An"), "Nguyễn Văn An"),
        (TO_HOP, "Nguyễn"),
        ("a\nb", "a b"),
        (123, "123"),
    ],
)
def test_nfc(raw, expected):
    assert nfc(raw) == expected


def test_nfc_result_is_nfc():
    out = nfc(nfd("Trần Thị Hường"))
    assert unicodedata.is_normalized("NFC", out)


@pytest.mark.parametrize(
    "a, b",
    [
        ("Thủy", "Thuỷ"),
        ("hòa", "hoà"),
        ("khỏe", "khoẻ"),
        ("Sơn Thủy", "Sơn Thuỷ"),
        ("Đặng", "Dang"),
        ("ĐẶNG", "dang"),
        ("Nguyễn Văn An", nfd("nguyen van an")),
        ("Nguyễn", TO_HOP),
        ("Thôn  Phước\u00a0Hòa", "thôn phước hoà"),
    ],
)
def test_fold_equal(a, b):
    assert fold(a) == fold(b)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Đặng", "dang"),
        ("đ", "d"),
        ("Thuỷ", "thuy"),
        ("  Nguyễn  Thị   Hường ", "nguyen thi huong"),
        (None, ""),
        ("", ""),
    ],
)
def test_fold_values(raw, expected):
    assert fold(raw) == expected


def test_fold_keeps_distinct_words_distinct():
    assert fold("Đặng") != fold("Đăng Khoa")
    assert fold("Hòa") != fold("Hoa Hòa")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("NGUYỄN VĂN AN", "Nguyễn Văn An"),
        ("nguyễn thị  bích", "Nguyễn Thị Bích"),
        ("đặng THỊ ánh", "Đặng Thị Ánh"),
        (nfd("ĐỖ ÔNG ƯỚC"), "Đỗ Ông Ước"),
        ("h'hen niê", "H'Hen Niê"),
        ("lê-văn tám", "Lê-Văn Tám"),
        (None, ""),
    ],
)
def test_proper_case(raw, expected):
    assert proper_case(raw) == expected


# ------------------------------------------------------------------ legacy tables


def test_encoding_csv_characters_agree_with_bytes():
    for row in ROWS:
        if row["tcvn3_abc_bytes"]:
            assert bytes.fromhex(row["tcvn3_abc_bytes"]).decode("latin-1") == row["tcvn3_abc"], row
        assert bytes.fromhex(row["vni_windows_bytes_cp1252"]).decode("cp1252") == row["vni_windows"], row


def test_tcvn3_soft_hyphen_is_u_horn():
    assert decode_legacy("H\xadêng", LEGACY_TCVN3) == "Hường"
    assert encode_legacy("ư", LEGACY_TCVN3) == "\xad"


TCVN3_CAPITALS = "ĂÂÊÔƠƯĐ"  # the only capitals with a TCVN3 code of their own


@pytest.mark.parametrize("letter", LETTERS)
def test_tcvn3_round_trip_every_letter(letter):
    decoded = decode_legacy(encode_legacy(letter, LEGACY_TCVN3), LEGACY_TCVN3)
    if letter.islower() or letter.isascii() or letter in TCVN3_CAPITALS:
        assert decoded == letter
    else:
        # toned capitals have no TCVN3 code: written with the lowercase code, read lowercase
        assert decoded == letter.lower()


@pytest.mark.parametrize("row", ROWS, ids=[r["unicode"] for r in ROWS])
def test_tcvn3_decodes_the_csv_column(row):
    """The CSV writes toned capitals as capital + lowercase code ("A¸" = Á)."""
    code = bytes.fromhex(row["tcvn3_abc_bytes"]).decode("latin-1") if row["tcvn3_abc_bytes"] else row["unicode"]
    assert decode_legacy(code, LEGACY_TCVN3) == row["unicode"]


@pytest.mark.parametrize("letter", LETTERS)
def test_vni_round_trip_every_letter(letter):
    code = encode_legacy(letter, LEGACY_VNI)
    assert decode_legacy(code, LEGACY_VNI) == letter
    assert decode_legacy(code + "n", LEGACY_VNI) == letter + "n"


@pytest.mark.parametrize("row", ROWS, ids=[r["unicode"] for r in ROWS])
def test_vni_encode_matches_csv(row):
    assert encode_legacy(row["unicode"], LEGACY_VNI) == bytes.fromhex(row["vni_windows_bytes_cp1252"]).decode("cp1252")


def test_tcvn3_encode_uses_lowercase_code_for_toned_capitals():
    assert encode_legacy("Á", LEGACY_TCVN3) == "¸"
    assert encode_legacy("NGUYỄN", LEGACY_TCVN3) == "NGUYÔN"
    assert encode_legacy("Ă", LEGACY_TCVN3) == "¡"


# ------------------------------------------------------------------ decode / encode


@pytest.mark.parametrize(
    "legacy, expected",
    [
        ("NguyÔn V¨n An", "Nguyễn Văn An"),
        ("D\xad¬ng ThÞ S\xad¬ng", "Dương Thị Sương"),
        ("Ng\xadêi khuyÕt tËt ®Æc biÖt nÆng", "Người khuyết tật đặc biệt nặng"),
        ("Th«n §ång Trßn", "Thôn Đồng Tròn"),
        ("¤ng Th¶o", "Ông Thảo"),
        ("Huúnh Mü LiÔu", "Huỳnh Mỹ Liễu"),
        ("§· chÕt ngµy 12/4/2024", "Đã chết ngày 12/4/2024"),
        ("§ç ThÞ Th¶o", "Đỗ Thị Thảo"),
        ("Sè CCCD", "Số CCCD"),
        # titles typed in capitals: toned letters restored to capitals
        ("UBND X· B×NH D¦¥NG", "UBND XÃ BÌNH DƯƠNG"),
        ("DANH S¸CH CHI TR¶ TRî CÊP X· HéI TH¸NG 5/2024", "DANH SÁCH CHI TRẢ TRỢ CẤP XÃ HỘI THÁNG 5/2024"),
        ("Danh s¸ch TH¸NG 5", "Danh sách THÁNG 5"),
        ("", ""),
        ("051 190 012345", "051 190 012345"),
    ],
)
def test_decode_tcvn3(legacy, expected):
    assert decode_legacy(legacy, LEGACY_TCVN3) == expected


def test_decode_tcvn3_upper_font():
    assert decode_legacy("nguyÔn v¨n an", LEGACY_TCVN3, upper_font=True) == "NGUYỄN VĂN AN"
    assert decode_legacy("nguyÔn v¨n an", LEGACY_TCVN3) == "nguyễn văn an"


def test_decode_tcvn3_does_not_merge_oo():
    # "moóc": O followed by ó inside a word is two letters, not the CSV's "O"+"ã" = Ó
    assert decode_legacy("MOãC", LEGACY_TCVN3) == "MOÓC"


@pytest.mark.parametrize(
    "legacy, expected",
    [
        ("Nguyeãn Vaên An", "Nguyễn Văn An"),
        ("NGUYEÃN VAÊN AN", "NGUYỄN VĂN AN"),
        ("Ñoã Thò Höôøng", "Đỗ Thị Hường"),
        ("Tröông Kim Thaûo", "Trương Kim Thảo"),
        ("Thoân Phöôùc Hoøa", "Thôn Phước Hòa"),
        ("Huyønh Myõ Lieãu", "Huỳnh Mỹ Liễu"),
        ("Aùnh", "Ánh"),  # hand-typed title case: capital base, lowercase mark
        ("AÙNH", "ÁNH"),
        ("Ñaëng", "Đặng"),
        ("Kyø", "Kỳ"),
        ("Nghóa", "Nghĩa"),
        ("Vyõ", "Vỹ"),
        ("Lyù", "Lý"),
    ],
)
def test_decode_vni(legacy, expected):
    assert decode_legacy(legacy, LEGACY_VNI) == expected


@pytest.mark.parametrize("enc", [LEGACY_TCVN3, LEGACY_VNI])
@pytest.mark.parametrize("text", ["Nguyễn Văn An", "Trương Thị Hường", "Đặng Thanh Nghĩa", "Thôn Phước Hòa", "Huỳnh Mỹ Liễu"])
def test_encode_decode_sentences(enc, text):
    assert decode_legacy(encode_legacy(text, enc), enc) == text


def test_encode_examples():
    assert encode_legacy("Nguyễn Văn An", LEGACY_TCVN3) == "NguyÔn V¨n An"
    assert encode_legacy("Nguyễn Văn An", LEGACY_VNI) == "Nguyeãn Vaên An"
    assert encode_legacy(nfd("Nguyễn"), LEGACY_VNI) == "Nguyeãn"


def test_decode_leaves_unicode_cells_alone():
    assert decode_legacy("Họ và tên", LEGACY_TCVN3) == "Họ và tên"
    assert decode_legacy(nfd("Trương"), LEGACY_VNI) == "Trương"
    assert decode_legacy(None, LEGACY_TCVN3) is None


def test_unknown_encoding_raises():
    with pytest.raises(ValueError):
        decode_legacy("abc", "cp1258")
    with pytest.raises(ValueError):
        encode_legacy("abc", "utf-8")


# ------------------------------------------------------------------ detection


@pytest.mark.parametrize(
    "texts, expected",
    [
        (["NguyÔn V¨n An"], LEGACY_TCVN3),
        (["Nguyeãn Vaên An"], LEGACY_VNI),
        (["Nguyễn Văn An"], None),
        ([nfd("Nguyễn Văn An")], None),
        ([TO_HOP + " Văn An"], None),
        (["Hello world", "Total 1,500,000", "STT"], None),
        ([], None),
        (["Bïi Thanh"], LEGACY_TCVN3),
        (["c« gi¸o"], LEGACY_TCVN3),
        (["Phan H÷u Phóc", "D\xad¬ng ThÞ S\xad¬ng", "Th«n V¹n Th¹nh"], LEGACY_TCVN3),
        (["Ñoã Thò Höôøng", "Tröông Kim Thaûo", "Leâ Minh"], LEGACY_VNI),
        # Unicode with only Latin-1 letters and symbols that are also TCVN3 codes
        (["Hoà Bình, «Dân vận» © 2024", "Brand® £5", "Hòa", "Thúy"], None),
        # Unicode text dominates a few legacy-looking characters
        (["Nguyễn Văn An", "Trần Thị Bích", "Lê Thu Hường", "ghi chú « x"], None),
        # mixed column: Unicode header, TCVN3 data
        (["Họ và tên", "NguyÔn V¨n An", "D\xad¬ng ThÞ S\xad¬ng", "Lª Minh Th¾ng"], LEGACY_TCVN3),
        ([None, 123, 45.0, "NguyÔn V¨n An"], LEGACY_TCVN3),
    ],
)
def test_detect_legacy(texts, expected):
    assert detect_legacy(texts) == expected


def test_detect_legacy_on_vni_and_tcvn3_encodings_of_the_same_names():
    names = ["Nguyễn Văn An", "Trương Thị Hường", "Đặng Thanh Nghĩa", "Huỳnh Mỹ Liễu", "Phạm Dung"]
    assert detect_legacy([encode_legacy(n, LEGACY_TCVN3) for n in names]) == LEGACY_TCVN3
    assert detect_legacy([encode_legacy(n, LEGACY_VNI) for n in names]) == LEGACY_VNI
    assert detect_legacy(names) is None
    assert detect_legacy([nfd(n) for n in names]) is None


def test_detect_legacy_fonts():
    assert detect_legacy(["Nam", "STT"], [".VnTime", ".VnTime"]) == LEGACY_TCVN3
    assert detect_legacy(["Nam", "STT"], ["VNI-Times"]) == LEGACY_VNI
    assert detect_legacy(["Nam"], ["Times New Roman", None]) is None
    # the font breaks the tie between encodings ("Thuû" is TCVN3 Thuỷ or VNI Thủ)
    assert detect_legacy(["Thuû"], [".VnTimeH"]) == LEGACY_TCVN3
    # but does not turn real Unicode into legacy text
    assert detect_legacy(["Nguyễn Văn An"], [".VnTime"]) is None


@pytest.mark.parametrize(
    "font, enc, upper",
    [
        (".VnTime", LEGACY_TCVN3, False),
        (".VnTimeH", LEGACY_TCVN3, True),
        (".VnArialH", LEGACY_TCVN3, True),
        ("VNI-Times", LEGACY_VNI, False),
        ("VNI-Helve", LEGACY_VNI, False),
        ("Times New Roman", None, False),
        ("Calibri", None, False),
        (None, None, False),
    ],
)
def test_font_helpers(font, enc, upper):
    assert font_encoding(font) == enc
    assert is_upper_font(font) is upper


# ------------------------------------------------------------------ bytes


def test_decode_bytes_cp1258_round_trip():
    raw = encode_cp1258("Nguyễn Thị Hường")
    assert raw == b"Nguy\xea\xden Th\x69\xf2 H\xfd\xf5\xccng"
    text, enc = decode_bytes(raw)
    assert (text, enc) == ("Nguyễn Thị Hường", "cp1258")
    assert unicodedata.is_normalized("NFC", text)


@pytest.mark.parametrize(
    "data, text, enc",
    [
        ("\ufeffHọ và tên;Số tiền\r\n".encode("utf-8"), "Họ và tên;Số tiền\r\n", "utf-8-sig"),
        ("Họ và tên".encode("utf-8"), "Họ và tên", "utf-8"),
        (nfd("Họ và tên").encode("utf-8"), "Họ và tên", "utf-8"),
        ("Họ và tên".encode("utf-16"), "Họ và tên", "utf-16"),
        (b"STT;Ten", "STT;Ten", "utf-8"),
        (b"", "", "utf-8"),
    ],
)
def test_decode_bytes(data, text, enc):
    assert decode_bytes(data) == (text, enc)


def test_decode_bytes_never_raises():
    text, enc = decode_bytes(bytes(range(256)))
    assert enc == "cp1258"
    assert "\ufffd" in text  # undefined cp1258 bytes


# ------------------------------------------------------------------ death remarks


@pytest.mark.parametrize(
    "remark",
    [
        "Đã chết ngày 12/3/2024",
        "đã chết",
        "Chết",
        "CHẾT NGÀY 1/5",
        "Đã mất",
        "mất ngày 3/4/2024",
        "Từ trần",
        "qua đời tháng 4",
        "Đã tử vong",
        "da chet",
        nfd("Đã chết"),
    ],
)
def test_mentions_death(remark):
    assert mentions_death(remark)


@pytest.mark.parametrize(
    "remark",
    [
        "",
        None,
        "Chuyển đi nơi khác",
        "Mất CCCD",
        "Đã mất CCCD, đang làm lại",
        "Con đã mất việc",
        "Chét",
        "Da mặt bị bỏng",
        "Đang điều trị",
        "Tiền mặt",
        "chetxyz",
    ],
)
def test_does_not_mention_death(remark):
    assert not mentions_death(remark)
