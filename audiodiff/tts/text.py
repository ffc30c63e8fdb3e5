"""Text front end for text-to-speech: normalise, phonemise, map to symbol ids.

Text goes through three steps:

1. `normalize` turns what users type into words a synthesiser can say: digits
   become English words in the style of the training corpus
   (`audiodiff/data/sentences.py`: "one hundred and five"), as do decimals,
   ordinals, money, percentages, times and common abbreviations; unicode
   quotes and dashes become ASCII and whitespace is collapsed.
2. The text becomes symbols, of one of two kinds (`SYMBOL_KINDS`):
   'phonemes': IPA from espeak-ng (en-us, through the `phonemizer` package)
     with stress marks, punctuation and word spaces kept as symbols. The
     espeak-ng backend is made once per process, on first use, and a batch of
     texts is phonemised in one call.
   'characters': the lower-cased letters themselves; needs nothing installed.
3. Symbols map to ids in a fixed table (`SYMBOLS_VERSION`): id 0 is padding,
   id 1 the blank that Grad-TTS intersperses between symbols. Symbols outside
   the table are dropped with one warning, never an error.

`split_long` cuts long input into pieces at sentence, clause and word breaks,
for synthesis a piece at a time.
"""

import re
import threading
import unicodedata
from typing import Sequence

from absl import logging
import numpy as np

from audiodiff.data import sentences
from audiodiff.errors import UserError

SYMBOL_KINDS = ('phonemes', 'characters')
PAD_ID = 0
BLANK_ID = 1
# Bump when a table below changes. Tables only ever grow at the end, so ids of
# existing symbols stay valid for trained checkpoints.
SYMBOLS_VERSION = 1

_PAD = '<pad>'
_BLANK = '<blank>'
# Kept as symbols in both kinds; word space first.
_PUNCTUATION = (' ', '.', ',', '?', '!', ';', ':', '-', "'", '"', '(', ')')

# IPA as espeak-ng writes it (one symbol per character), wider than en-us needs
# so names and loan words keep their sounds.
_IPA_VOWELS = (
    'a', 'e', 'i', 'o', 'u', 'y', 'æ', 'ɐ', 'ɑ', 'ɒ', 'ɔ', 'ə', 'ɘ', 'ɚ', 'ɛ',
    'ɜ', 'ɝ', 'ɞ', 'ɤ', 'ɨ', 'ɪ', 'ɯ', 'ɵ', 'ɶ', 'ʉ', 'ʊ', 'ʌ', 'ʏ', 'ø', 'œ',
    'ᵻ',
)
_IPA_CONSONANTS = (
    'b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'q', 'r', 's',
    't', 'v', 'w', 'x', 'z', 'ç', 'ð', 'ħ', 'ŋ', 'ɓ', 'ɕ', 'ɖ', 'ɗ', 'ɟ', 'ɠ',
    'ɡ', 'ɢ', 'ɣ', 'ɥ', 'ɦ', 'ɧ', 'ɫ', 'ɬ', 'ɭ', 'ɮ', 'ɰ', 'ɱ', 'ɲ', 'ɳ', 'ɴ',
    'ɸ', 'ɹ', 'ɺ', 'ɻ', 'ɽ', 'ɾ', 'ʀ', 'ʁ', 'ʂ', 'ʃ', 'ʄ', 'ʈ', 'ʋ', 'ʍ', 'ʎ',
    'ʐ', 'ʑ', 'ʒ', 'ʔ', 'ʕ', 'ʙ', 'ʛ', 'ʜ', 'ʝ', 'ʟ', 'ʡ', 'ʢ', 'β', 'θ', 'χ',
    'ⱱ', 'ǀ', 'ǁ', 'ǂ', 'ǃ',
)
_IPA_MARKS = (
    'ˈ', 'ˌ',  # primary, secondary stress
    'ː', 'ˑ',  # long, half long
    'ʰ', 'ʲ', 'ʷ', 'ˠ', 'ˤ', 'ʼ',  # aspirated, palatalised, ..., ejective
    '\u0303',  # combining tilde: nasalised
    '\u0329',  # combining vertical line below: syllabic (button: ʔn̩)
    '\u032a',  # combining bridge below: dental
    '\u032f',  # combining inverted breve below: non-syllabic
    '\u0306',  # combining breve: extra short
    '\u0361',  # combining double inverted breve: tie
    '‿', '↑', '↓',  # linking, intonation
)

_TABLES = {
    'phonemes': ((_PAD, _BLANK) + _PUNCTUATION + _IPA_VOWELS + _IPA_CONSONANTS
                 + _IPA_MARKS),
    'characters': ((_PAD, _BLANK) + _PUNCTUATION
                   + tuple('abcdefghijklmnopqrstuvwxyz')),
}
_IDS = {kind: {s: i for i, s in enumerate(table)}
        for kind, table in _TABLES.items()}

ESPEAK_FIX = ('install espeak-ng (Debian/Ubuntu: apt-get install espeak-ng), '
              'or set --config.tts.symbols=characters')


def _check_kind(kind):
  if kind not in SYMBOL_KINDS:
    raise UserError(f'config.tts.symbols={kind!r} must be one of '
                    f'{", ".join(repr(k) for k in SYMBOL_KINDS)}.')


def symbols(kind: str) -> tuple:
  """The symbols of `kind` as a tuple; position = id, pad and blank first."""
  _check_kind(kind)
  return _TABLES[kind]


def num_symbols(kind: str) -> int:
  """Size of the embedding table for `kind`, pad and blank included."""
  return len(symbols(kind))


# ----------------------------------------------------------------------------
# Numbers in words, in the corpus style ("two thousand and twenty four").

_ONES = sentences.ONES
_SCALES = ('', 'thousand', 'million', 'billion', 'trillion')
_ORDINAL_WORDS = {'one': 'first', 'two': 'second', 'three': 'third',
                  'five': 'fifth', 'eight': 'eighth', 'nine': 'ninth',
                  'twelve': 'twelfth'}
# Words for 0 <= n < 1000, no hyphens ("one hundred and five"): the corpus's own.
_below_thousand = sentences.number_words


def digits_words(digits: str) -> str:
  """'407' -> 'four zero seven'."""
  return ' '.join(_ONES[int(d)] for d in digits)


def number_words(n: int) -> str:
  """English words for an int; |n| >= 10**15 is read digit by digit."""
  n = int(n)
  if n < 0:
    return 'minus ' + number_words(-n)
  if n >= 1000 ** len(_SCALES):
    return digits_words(str(n))
  if n < 1000:
    return _below_thousand(n)
  groups = []  # (group value, scale index), most significant first
  scale = 0
  while n:
    n, group = divmod(n, 1000)
    if group:
      groups.insert(0, (group, scale))
    scale += 1
  words = []
  for group, scale in groups:
    part = _below_thousand(group)
    if scale == 0 and group < 100:
      part = 'and ' + part  # "one thousand and five", as "one hundred and five"
    words.append(f'{part} {_SCALES[scale]}'.strip())
  return ' '.join(words)


def ordinal_words(n: int) -> str:
  """21 -> 'twenty first', 100 -> 'one hundredth'."""
  words = number_words(n).split(' ')
  last = words[-1]
  if last in _ORDINAL_WORDS:
    last = _ORDINAL_WORDS[last]
  elif last.endswith('y'):
    last = last[:-1] + 'ieth'
  else:
    last += 'th'
  return ' '.join(words[:-1] + [last])


def _plural(words):
  """'ninety' -> 'nineties', 'six' -> 'sixes', 'hundred' -> 'hundreds'."""
  if words.endswith('y'):
    return words[:-1] + 'ies'
  if words.endswith(('x', 's')):
    return words + 'es'
  return words + 's'


def _decimal_words(integer, fraction):
  """('3', '14') -> 'three point one four'; an empty integer part is omitted."""
  words = _integer_words(integer) + ' ' if integer else ''
  return words + 'point ' + digits_words(fraction)


def _integer_words(digits):
  """A digit string in words; leading zeros ('007') are read digit by digit."""
  if len(digits) > 1 and digits.startswith('0'):
    return digits_words(digits)
  return number_words(int(digits))


# ----------------------------------------------------------------------------
# Normalisation.

_CHAR_MAP = {
    '‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'", '`': "'", '´': "'",
    '“': '"', '”': '"', '„': '"', '‟': '"', '″': '"', '«': '"', '»': '"',
    '‹': "'", '›': "'",
    '—': ' - ', '―': ' - ', '–': ' - ', '‒': '-', '‐': '-', '‑': '-', '−': '-',
    '…': '...', '¡': '', '¿': '',
    '[': '(', ']': ')', '{': '(', '}': ')',
    '&': ' and ', '@': ' at ', '+': ' plus ', '=': ' equals ', '°': ' degrees ',
    '\\': ' ', '_': ' ', '*': ' ', '|': ' ', '~': ' ', '^': ' ',
    '<': ' less than ', '>': ' greater than ',
}

# (pattern, words): these never end a sentence, so their period goes.
_TITLES = (
    (r'\bMr\.', 'mister'), (r'\bMrs\.', 'missus'), (r'\bMs\.', 'miz'),
    (r'\bDr\.', 'doctor'), (r'\bProf\.', 'professor'), (r'\bMt\.', 'mount'),
    (r'\bCapt\.', 'captain'), (r'\bLt\.', 'lieutenant'),
    (r'\bCol\.', 'colonel'), (r'\bSgt\.', 'sergeant'), (r'\bGen\.', 'general'),
    (r'\bRev\.', 'reverend'), (r'\bJr\.', 'junior'), (r'\bSr\.', 'senior'),
    (r'\b[Nn]o\.\s*(?=\d)', 'number '), (r'#\s*(?=\d)', 'number '),
    (r'\b[Ee]\.\s?[Gg]\.', 'for example'), (r'\b[Ii]\.\s?[Ee]\.', 'that is'),
    (r'\bvs\.', 'versus'),
)
# These may end a sentence: the period stays when the text ends or a capital
# letter follows.
_ABBREVIATIONS = (
    (r'\betc\.', 'et cetera'),
    (r'\bapprox\.', 'approximately'), (r'\b([AaPp])\.\s?[Mm]\.', r'\1 m'),
)
_SENTENCE_GOES_ON = r'(?=\s+[A-Z]|\s*$)'

_CURRENCIES = {  # symbol: (unit, units, subunit, subunits)
    '$': ('dollar', 'dollars', 'cent', 'cents'),
    '£': ('pound', 'pounds', 'penny', 'pence'),
    '€': ('euro', 'euros', 'cent', 'cents'),
    '¥': ('yen', 'yen', 'sen', 'sen'),
    '₹': ('rupee', 'rupees', 'paisa', 'paise'),
}
_CURRENCY_CLASS = '[' + ''.join(_CURRENCIES) + ']'
_NUMBER = r'\d+(?:\.\d+)?'
# A number with an optional minus sign ("-5", not the dash of "3-5").
_SIGNED = r'(?:(?<![\w)])-)?' + _NUMBER
_SCALE_WORD = r'(?:\s?(thousand|million|billion|trillion)\b)?'
_MONEY_BEFORE = re.compile(r'(' + _CURRENCY_CLASS + r')\s?(' + _SIGNED + ')' + _SCALE_WORD)
_MONEY_AFTER = re.compile(r'(?<![\w.])(' + _SIGNED + r')' + _SCALE_WORD +
                          r'\s?(' + _CURRENCY_CLASS + ')')
_THOUSANDS = re.compile(r'(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|,\d)')
_PERCENT = re.compile(r'(' + _SIGNED + r')\s?%')
_ORDINAL = re.compile(r'(\d+)(st|nd|rd|th)\b', re.IGNORECASE)
_TIME = re.compile(r'\b([01]?\d|2[0-3]|24(?=:00)):([0-5]\d)\b')
# 1:23:45, hours, minutes and seconds (a lap time, a duration).
_DURATION = re.compile(r'\b(\d{1,2}):([0-5]\d):([0-5]\d)\b')
_TIME_RANGE = re.compile(r'\b(\d{1,2}:[0-5]\d)\s?-\s?(\d{1,2}:[0-5]\d)\b')
# Telephone numbers: 555-1234, 800-555-1234, 1-800-555-1234, (800) 555-1234.
_PHONE = re.compile(r'(?<![\w-])(?:1-)?(?:\(\d{3}\) ?|\d{3}-)?\d{3}-\d{4}(?![\w-])')
# A mixed number (1 1/2) or a fraction (3/4); dates (12/25/2024) are left alone.
_FRACTION = re.compile(r'(?<![\w/])(?:(\d+) )?(\d+)/(\d+)(?![\w/])')
# A four-digit number after these words is a year ("in 1990": nineteen ninety).
_YEAR = re.compile(r'\b(in|since|by|from|until|till|before|after|during|year|circa|between)'
                   r'\s+(1[1-9]\d\d|20\d\d)\b(?![-/:.]\d)', re.IGNORECASE)
# After these words "NNN-NNNN" is a range, not a telephone number.
_RANGE_WORDS = frozenset(('between', 'from', 'page', 'pages', 'pp.', 'ages', 'years',
                          'numbers', 'items', 'rows', 'lines', 'chapters', 'verses', 'about',
                          'roughly', 'approximately', 'some'))
_RANGE = re.compile(r'(?<![\w-])(' + _NUMBER + r')-(' + _NUMBER + r')(?![\w-])')
# Calendar dates: 2024-12-25 always; 12/25 and 12/25/2024 (month first) after
# a word that introduces a date or with a year.
_MONTHS = ('January', 'February', 'March', 'April', 'May', 'June', 'July',
           'August', 'September', 'October', 'November', 'December')
_ISO_DATE = re.compile(r'(?<![\w-])(1[5-9]\d\d|20\d\d)-(0?[1-9]|1[0-2])-'
                       r'(0?[1-9]|[12]\d|3[01])(?![\w-])')
_MONTH_DAY = r'(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])'
_SLASH_DATE = re.compile(r'(?<![\w/])' + _MONTH_DAY + r'/(\d{4}|\d{2})(?![\w/])')
_DATE_AFTER_WORD = re.compile(
    r'\b(on|since|by|until|till|before|after|from|dated|due)\s+' + _MONTH_DAY +
    r'(?![\w/])', re.IGNORECASE)
# Clock times with a.m./p.m. ("9am", "3:30 PM"), alone or as a range.
_CLOCK = r'(\d{1,2})(?::([0-5]\d))?\s?([AaPp])\s?[Mm](?!\w)'
_CLOCK_RE = re.compile(r'(?<![\w:])' + _CLOCK)
_CLOCK_RANGE = re.compile(r'(?<![\w:])(\d{1,2})(?::([0-5]\d))?(?:\s?([AaPp])\s?[Mm])?'
                          r'\s?-\s?(?=' + _CLOCK + ')')
# A range of percentages ("5-10%").
_PERCENT_RANGE = re.compile(r'(?<![\w-])(' + _NUMBER + r')\s?-\s?(?=' + _NUMBER + r'\s?%)')
# "+44 20 7946 0958": an international telephone number, read digit by digit.
_INTERNATIONAL_PHONE = re.compile(r'(?<![\w+])\+(\d{1,3})((?:[ .-]\(?\d{1,4}\)?){2,5})(?![\w])')
# Dotted numbers: IP addresses (four parts up to 255) and versions (1.2.3).
_DOTTED = re.compile(r'(?<![\d.])\d+(?:\.\d+){2,}(?![\w]|\.\d)')
_MONEY_FRACTION = re.compile(r'(' + _CURRENCY_CLASS + r')\s?(\d+)/(\d+)(?![\w/])')
# Numbers read digit by digit wherever they stand alone.
_SPOKEN_AS_DIGITS = re.compile(r'(?<![\w.,/-])(911|9/11)(?![\w/-]|[.,]\d)')
# $10K, 1.5M, 2bn, $2.5m: a number and its scale where it is money, has
# decimals or says bn/mn ("221B", "Flat 3B" and "4K video" keep their letter;
# lower-case k, m, b only after money: "2.5m" alone is metres).
_SCALE_SUFFIX = re.compile(r'(?<![\w.])((?:' + _CURRENCY_CLASS + r')\s?\d+(?:\.\d+)?|\d+\.\d+)'
                           r'\s?(K|M|B|bn|mn)\b|(?<![\w.])(\d+(?:\.\d+)?)\s?(bn|mn)\b'
                           r'|(?<![\w.])((?:' + _CURRENCY_CLASS + r')\s?\d+(?:\.\d+)?)(k|m|b)\b')
_SCALE_SUFFIXES = {'K': 'thousand', 'M': 'million', 'B': 'billion', 'bn': 'billion',
                   'mn': 'million', 'k': 'thousand', 'm': 'million', 'b': 'billion'}
# 3:1, 16:9 (one digit after the colon: not a time).
_RATIO = re.compile(r'(?<![\d:])(\d+):(\d)(?![\d:])')
# Units after a number: (singular, plural).
_UNITS = {
    'km/h': ('kilometre per hour', 'kilometres per hour'), 'kph': ('kilometre per hour',
                                                                   'kilometres per hour'),
    'mph': ('mile per hour', 'miles per hour'), 'km': ('kilometre', 'kilometres'),
    'cm': ('centimetre', 'centimetres'), 'mm': ('millimetre', 'millimetres'),
    'kg': ('kilogram', 'kilograms'), 'mg': ('milligram', 'milligrams'),
    'ml': ('millilitre', 'millilitres'), 'kHz': ('kilohertz', 'kilohertz'),
    'MHz': ('megahertz', 'megahertz'), 'GHz': ('gigahertz', 'gigahertz'),
    'Hz': ('hertz', 'hertz'), 'KB': ('kilobyte', 'kilobytes'), 'MB': ('megabyte', 'megabytes'),
    'GB': ('gigabyte', 'gigabytes'), 'TB': ('terabyte', 'terabytes'),
    'kW': ('kilowatt', 'kilowatts'), 'kWh': ('kilowatt hour', 'kilowatt hours'),
    'ft': ('foot', 'feet'), 'lb': ('pound', 'pounds'), 'lbs': ('pound', 'pounds'),
    'oz': ('ounce', 'ounces'), 'ms': ('millisecond', 'milliseconds'),
}
_UNIT = re.compile(r'(?<![\w.])(' + _SIGNED + r')\s?(' + '|'.join(
    re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r')(?![\w/])')
# Musical keys and notes: C#, F# (not "#5", a number).
_SHARP = re.compile(r'\b([A-G])#(?![\w#])')
# Regnal and sequel numbers after a name: "Louis XIV" (II and up; "I" is a word).
_ROMAN = re.compile(r'\b([A-Z][a-z]+) (M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})'
                    r'(?:IX|IV|V?I{0,3}))\b')
_ROMAN_VALUES = {'I': 1, 'V': 5, 'X': 10, 'L': 50, 'C': 100, 'D': 500, 'M': 1000}
# After these a numeral is a count ("World War II": two), else an ordinal.
_ROMAN_CARDINAL_AFTER = frozenset(('War', 'Part', 'Chapter', 'Volume', 'Act', 'Phase', 'Type',
                                   'Class', 'Level', 'Section', 'Book', 'Episode', 'Round'))
_DECADE = re.compile(r'\b(1[1-9]|20)(\d)0s\b')
_SHORT_DECADE = re.compile(r"(?<!\w)'?([1-9]0)s\b")
_MINUS = re.compile(r'(?<![\w)])-(?=\.?\d)')
_POINT_ONLY = re.compile(r'(?<![\w.])\.(\d+)')
_NUMBER_RE = re.compile(r'(\d+)(?:\.(\d+))?')


def _number_text(text):
  """'-3.5' -> 'minus three point five', '12' -> 'twelve'."""
  sign = ''
  if text.startswith('-'):
    sign, text = 'minus ', text[1:]
  integer, _, fraction = text.partition('.')
  if fraction:
    return sign + _decimal_words(integer, fraction)
  return sign + _integer_words(integer)


def _money(amount, scale, symbol):
  """Words for an amount of money; scale is '' or 'million' etc."""
  unit, units, subunit, subunits = _CURRENCIES[symbol]
  if scale:
    return f'{_number_text(amount)} {scale} {units}'
  sign = ''
  if amount.startswith('-'):
    sign, amount = 'minus ', amount[1:]
  whole, _, cents = amount.partition('.')
  if len(cents) > 2:  # "$0.125": read as a decimal
    return f'{sign}{_number_text(amount)} {units}'
  whole_n = int(whole)
  cents_n = int(cents.ljust(2, '0')) if cents else 0
  parts = []
  if whole_n or not cents_n:
    parts.append(f'{number_words(whole_n)} {unit if whole_n == 1 else units}')
  if cents_n:
    parts.append(
        f'{number_words(cents_n)} {subunit if cents_n == 1 else subunits}')
  return sign + ' and '.join(parts)


def _saint_or_street(match):
  text, start, end = match.string, match.start(), match.end()
  before = text[:start].split()
  after = text[end:].lstrip()
  if after[:1].isupper() and not (before and before[-1][:1].isupper()):
    return 'saint'
  return 'street' + ('.' if not after or after[:1].isupper() else '')


def _spaced(words):
  return f' {words} '


def normalize(text: str) -> str:
  """Text with digits, symbols and abbreviations written out as words."""
  text = unicodedata.normalize('NFKC', str(text))
  text = re.sub(r'(?<=\d)\s?–\s?(?=\d)', ' to ', text)  # 1990–1995
  if re.search(r'\d\s*=\s*-?\d', text):  # arithmetic: "3 - 2 = 1"
    text = re.sub(r'(?<=\d)\s+[-−]\s+(?=\d)', ' minus ', text)
  text = re.sub(r'(?<=\d)\s+-\s+(?=\d)', ' to ', text)  # pages 3 - 5
  text = _SHARP.sub(r'\1 sharp', text)
  text = _ROMAN.sub(_roman_words, text)
  text = _INTERNATIONAL_PHONE.sub(
      lambda m: _spaced('plus ' + _phone_words(m.group(1) + ' ' + m.group(2))), text)
  text = ''.join(_CHAR_MAP.get(c, c) for c in text)
  text = re.sub(r'\s+', ' ', text)
  # Control, format (zero width), private use and unassigned characters.
  text = ''.join(c for c in text if not unicodedata.category(c).startswith('C'))
  # Abbreviations (before numbers: "No. 5").
  for pattern, words in _TITLES:
    text = re.sub(pattern, words, text)
  text = re.sub(r'\bSt\.', _saint_or_street, text)
  for pattern, words in _ABBREVIATIONS:
    text = re.sub(pattern + _SENTENCE_GOES_ON, words + '.', text)
    text = re.sub(pattern, words, text)
  # Numbers, the most specific forms first.
  text = _THOUSANDS.sub(lambda m: m.group().replace(',', ''), text)
  text = _SPOKEN_AS_DIGITS.sub(
      lambda m: _spaced(' '.join(digits_words(d) if len(d) == 3 else _integer_words(d)
                                 for d in m.group(1).split('/'))), text)
  text = _ISO_DATE.sub(lambda m: _spaced(_date_words(*m.groups())), text)
  text = _SLASH_DATE.sub(lambda m: _spaced(_date_words(m[3], m[1], m[2])), text)
  text = _DATE_AFTER_WORD.sub(lambda m: f'{m[1]} {_date_words(None, m[2], m[3])} ', text)
  text = _DOTTED.sub(lambda m: _spaced(_dotted_words(m.group())), text)
  text = _MONEY_FRACTION.sub(lambda m: _spaced(
      f'{_fraction_words(None, m.group(2), m.group(3))} of a '
      f'{_CURRENCIES[m.group(1)][0]}'), text)
  text = _CLOCK_RANGE.sub(lambda m: _spaced(_clock_words(*m.groups()[:3]) + ' to'), text)
  text = _CLOCK_RE.sub(lambda m: _spaced(_clock_words(*m.groups())), text)
  text = _PERCENT_RANGE.sub(lambda m: _spaced(_number_text(m.group(1)) + ' to'), text)
  text = _SCALE_SUFFIX.sub(
      lambda m: f'{m[1] or m[3] or m[5]} {_SCALE_SUFFIXES[m[2] or m[4] or m[6]]}', text)
  text = _MONEY_BEFORE.sub(
      lambda m: _spaced(_money(m.group(2), m.group(3), m.group(1))), text)
  text = _MONEY_AFTER.sub(
      lambda m: _spaced(_money(m.group(1), m.group(2), m.group(3))), text)
  text = _FRACTION.sub(lambda m: _spaced(_fraction_words(*m.groups())), text)  # 1/2%
  text = _PERCENT.sub(
      lambda m: _spaced(_number_text(m.group(1)) + ' percent'), text)
  text = _UNIT.sub(lambda m: _spaced(_unit_words(m[1], m[2])), text)
  text = _RATIO.sub(lambda m: _spaced(f'{_integer_words(m[1])} to {_integer_words(m[2])}'),
                    text)
  text = _ORDINAL.sub(lambda m: _spaced(ordinal_words(int(m.group(1)))), text)
  text = _DURATION.sub(lambda m: _spaced(_duration_words(*m.groups())), text)
  text = _TIME_RANGE.sub(r'\1 to \2', text)  # 9:00-17:00
  text = _TIME.sub(lambda m: _spaced(_time_words(m)), text)
  text = _YEAR.sub(lambda m: f'{m.group(1)} {_year_words(int(m.group(2)))}', text)
  text = _PHONE.sub(lambda m: _spaced(_phone_or_range(m)), text)
  text = _RANGE.sub(lambda m: _spaced(_range_words(m)), text)
  text = _DECADE.sub(lambda m: _spaced(_decade_words(m)), text)
  text = _SHORT_DECADE.sub(
      lambda m: _spaced(_plural(number_words(int(m.group(1))))), text)
  text = re.sub(r'(?<=[^\W\d_])-(?=\d)', ' ', text)  # COVID-19
  text = _MINUS.sub('minus ', text)
  text = _POINT_ONLY.sub(lambda m: _spaced(_decimal_words('', m.group(1))),
                         text)
  text = _NUMBER_RE.sub(
      lambda m: _spaced(_number_text(m.group(0))), text)
  text = text.replace('%', ' percent ').replace('#', ' ').replace('/', ' ')
  for symbol, (_, units, _, _) in _CURRENCIES.items():
    text = text.replace(symbol, f' {units} ')
  # Tidy spaces: none before closing punctuation, one between words.
  text = re.sub(r'\s+', ' ', text).strip()
  text = re.sub(r' ([.,?!;:)])', r'\1', text)
  return text


def _decade_words(match):
  """'1990s' -> 'nineteen nineties', '1900s' -> 'nineteen hundreds'."""
  century, decade = int(match.group(1)), int(match.group(2))
  if century % 10 == 0 and decade == 0:  # 2000s
    return _plural(number_words(century * 100))
  if decade == 0:
    return number_words(century) + ' hundreds'
  return f'{number_words(century)} {_plural(number_words(decade * 10))}'


def _time_words(match):
  """'10:30' -> 'ten thirty', '9:05' -> 'nine oh five', '3:00' -> o'clock,
  '18:00' -> 'eighteen hundred'."""
  hours, minutes = int(match.group(1)), int(match.group(2))
  if minutes == 0 and hours > 12:
    return f'{number_words(hours)} hundred'
  if minutes == 0:
    return f"{number_words(hours)} o'clock"
  if minutes < 10:
    return f'{number_words(hours)} oh {number_words(minutes)}'
  return f'{number_words(hours)} {number_words(minutes)}'


def _unit_words(number, unit):
  """('5', 'km') -> 'five kilometres', ('1', 'kg') -> 'one kilogram'."""
  one, many = _UNITS[unit]
  return f'{_number_text(number)} {one if number in ("1", "-1") else many}'


def _roman_words(match):
  """'Louis XIV' -> 'Louis the fourteenth'; 'War II' -> 'War two'."""
  name, numeral = match.group(1), match.group(2)
  if len(numeral) < 2:  # "I", "V", "X" alone: too often a word or a letter
    return match.group()
  values = [_ROMAN_VALUES[c] for c in numeral]
  value = sum(-v if i + 1 < len(values) and v < values[i + 1] else v
              for i, v in enumerate(values))
  if name in _ROMAN_CARDINAL_AFTER:
    return f'{name} {number_words(value)}'
  return f'{name} the {ordinal_words(value)}'


def _clock_words(hours, minutes=None, half=None):
  """('9', None, 'p') -> 'nine p m'; ('3', '30', 'a') -> 'three thirty a m';
  ('9', None, None) -> 'nine' (the start of a range)."""
  words = number_words(int(hours))
  if minutes and int(minutes):
    words += (' oh ' if int(minutes) < 10 else ' ') + number_words(int(minutes))
  return f'{words} {half.lower()} m' if half else words


def _date_words(year, month, day):
  """('2024', '12', '25') -> 'December twenty fifth, twenty twenty four';
  a missing year is left out."""
  words = f'{_MONTHS[int(month) - 1]} {ordinal_words(int(day))}'
  if year:
    year = int(year) + (2000 if len(year) == 2 else 0)
    words += f', {_year_words(year)}'
  return words


def _dotted_words(number):
  """'192.168.0.1' -> 'one hundred and ninety two dot one hundred and sixty
  eight dot zero dot one'; '1.2.3' -> 'one point two point three'."""
  parts = number.split('.')
  is_address = len(parts) == 4 and all(int(p) <= 255 for p in parts)
  return (' dot ' if is_address else ' point ').join(_integer_words(p) for p in parts)


def _duration_words(hours, minutes, seconds):
  """('1', '23', '45') -> 'one hour twenty three minutes forty five seconds'."""
  parts = []
  for value, unit in ((hours, 'hour'), (minutes, 'minute'), (seconds, 'second')):
    value = int(value)
    if value:
      parts.append(f'{number_words(value)} {unit}{"" if value == 1 else "s"}')
  return ' '.join(parts) or 'zero seconds'


def _year_words(year):
  """1990 -> 'nineteen ninety', 1905 -> 'nineteen oh five', 1900 -> 'nineteen
  hundred', 2005 -> 'two thousand and five', 2024 -> 'twenty twenty four'."""
  century, rest = divmod(int(year), 100)
  if 2000 <= year < 2010:
    return number_words(year)
  if rest == 0:
    return number_words(year) if year % 1000 == 0 else f'{number_words(century)} hundred'
  if rest < 10:
    return f'{number_words(century)} oh {number_words(rest)}'
  return f'{number_words(century)} {number_words(rest)}'


def _phone_or_range(match):
  """A telephone number, unless a word before it says it is a range (pages
  120-1500, between 100-2000)."""
  before = match.string[:match.start()].split()[-1:]
  numbers = re.findall(r'\d+', match.group())
  if before and before[0].lower() in _RANGE_WORDS and len(numbers) == 2:
    return f'{_integer_words(numbers[0])} to {_integer_words(numbers[1])}'
  return _phone_words(match.group())


def _range_words(match):
  """'10-20' -> 'ten to twenty'; two years after 'from'/'between' read as years."""
  first, second = match.group(1), match.group(2)
  before = match.string[:match.start()].split()[-1:]
  if (before and before[0].lower() in ('from', 'between')
      and all(re.fullmatch(r'1[1-9]\d\d|20\d\d', n) for n in (first, second))):
    return f'{_year_words(int(first))} to {_year_words(int(second))}'
  return f'{_number_text(first)} to {_number_text(second)}'


def _phone_words(number):
  """'555-1234' -> 'five five five, one two three four'."""
  groups = re.findall(r'\d+', number)
  return ', '.join(digits_words(group) for group in groups)


_DENOMINATORS = {2: ('half', 'halves'), 4: ('quarter', 'quarters')}


def _fraction_words(whole, numerator, denominator):
  """('1', '1', '2') -> 'one and a half'; (None, '3', '4') -> 'three quarters';
  (None, '24', '7') -> 'twenty four seven' (not a proper fraction)."""
  top, bottom = int(numerator), int(denominator)
  if not 0 < top < bottom <= 100:  # 24/7, 10/20: the two numbers
    return f'{_integer_words(numerator)} {_integer_words(denominator)}'
  one, many = _DENOMINATORS.get(bottom, (ordinal_words(bottom), _plural(ordinal_words(bottom))))
  if whole is not None:
    part = f'a {one}' if top == 1 else f'{number_words(top)} {many}'
    return f'{_integer_words(whole)} and {part}'
  return f'{number_words(top)} {one if top == 1 else many}'


# ----------------------------------------------------------------------------
# Long text.

_NO_SPLIT_AFTER = frozenset(
    ('mr.', 'mrs.', 'ms.', 'dr.', 'st.', 'prof.', 'mt.', 'jr.', 'sr.', 'no.',
     'e.g.', 'i.e.', 'vs.', 'capt.', 'lt.', 'col.', 'sgt.', 'gen.', 'rev.'))


def _sentences(text):
  """Split after . ? ! ; : followed by a space, not after 'Mr.' and the like."""
  pieces, start = [], 0
  for match in re.finditer(r'(?<=[.?!;:])\s+', text):
    last_word = text[start:match.start()].rsplit(' ', 1)[-1].lower()
    if last_word in _NO_SPLIT_AFTER:
      continue
    pieces.append(text[start:match.start()])
    start = match.end()
  pieces.append(text[start:])
  return pieces


_SPLITTERS = (
    _sentences,
    lambda text: re.split(r'(?<=,)\s+', text),
    lambda text: text.split(' '),
)


def _pack(pieces, max_chars):
  """Joins consecutive pieces with spaces while they fit in max_chars."""
  out = []
  for piece in pieces:
    if out and len(out[-1]) + 1 + len(piece) <= max_chars:
      out[-1] += ' ' + piece
    else:
      out.append(piece)
  return out


def _split(text, max_chars, level):
  if len(text) <= max_chars:
    return [text]
  if level == len(_SPLITTERS):  # one word longer than max_chars: cut it
    return [text[i:i + max_chars] for i in range(0, len(text), max_chars)]
  parts = [p.strip() for p in _SPLITTERS[level](text)]
  parts = [p for p in parts if p]
  pieces = []
  for part in parts:
    pieces.extend(_split(part, max_chars, level + 1))
  return _pack(pieces, max_chars)


def split_in_two(text: str) -> list[str]:
  """text -> two pieces of about equal length, cut after the comma or
  sentence mark nearest the middle when one lies in its middle half, else at
  the space nearest the middle, else (one word) at the middle letter. Text
  of one character gives [text]."""
  text = ' '.join(str(text).split())
  if len(text) < 2:
    return [text] if text else []
  middle = len(text) / 2

  def nearest(positions):
    return min(positions, key=lambda i: abs(i - middle), default=None)

  marks = [m.end() for m in re.finditer(r'[,.;:!?](?= )', text)
           if abs(m.end() - middle) <= middle / 2]
  cut = nearest(marks) or nearest([i for i, c in enumerate(text) if c == ' '])
  cut = cut or len(text) // 2
  return [part for part in (text[:cut].strip(), text[cut:].strip()) if part]


def split_long(text: str, max_chars: int = 200) -> list[str]:
  """Pieces of <= max_chars characters, cut at . ? ! ; : then , then spaces.

  Args:
    text: any text; whitespace is collapsed.
    max_chars: the longest piece, >= 1.

  Returns:
    Non-empty pieces in order; consecutive short pieces are joined (with a
    space) while they fit. Empty or blank text gives [].
  """
  if max_chars < 1:
    raise ValueError(f'split_long needs max_chars >= 1, got {max_chars}.')
  text = ' '.join(str(text).split())
  if not text:
    return []
  return _split(text, max_chars, 0)


# ----------------------------------------------------------------------------
# espeak-ng through phonemizer, one backend per process.

_BACKEND = None
_BACKEND_LOCK = threading.Lock()


def _make_backend():
  """A new phonemizer EspeakBackend for en-us, or UserError naming the fix."""
  try:
    # Imported here: only phonemes need phonemizer.
    from phonemizer.backend import EspeakBackend  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise UserError(f'Phonemes need the phonemizer package ({e}): '
                    'pip install phonemizer, or set '
                    '--config.tts.symbols=characters.') from None
  try:
    available = EspeakBackend.is_available()
  except (RuntimeError, OSError):
    available = False
  if not available:
    raise UserError(f'The espeak-ng library was not found: {ESPEAK_FIX}.')
  import logging as std_logging  # pylint: disable=g-import-not-at-top
  quiet = std_logging.getLogger('audiodiff.tts.phonemizer')
  quiet.setLevel(std_logging.ERROR)  # it warns on every merged word ("in the")
  try:
    # Punctuation is split off and put back here (_chunks, _symbols): the
    # library's own preserve_punctuation misaligns a batch when one of its
    # texts is empty or only punctuation.
    return EspeakBackend('en-us', preserve_punctuation=False, with_stress=True,
                         language_switch='remove-flags',
                         words_mismatch='ignore', logger=quiet)
  except (RuntimeError, OSError) as e:
    raise UserError(f'espeak-ng failed to start ({e}): {ESPEAK_FIX}.') from None


def _espeak_backend():
  """The process's EspeakBackend, made on first use."""
  global _BACKEND
  with _BACKEND_LOCK:
    if _BACKEND is None:
      _BACKEND = _make_backend()
    return _BACKEND


def _espeak(chunks):
  """IPA for each chunk (words only, no punctuation), in one backend call."""
  if not chunks:
    return []
  backend = _espeak_backend()
  from phonemizer.separator import Separator  # pylint: disable=g-import-not-at-top
  separator = Separator(phone='', syllable='', word=' ')
  with _BACKEND_LOCK:  # the espeak library is not thread safe
    out = backend.phonemize(list(chunks), separator=separator, strip=True)
  if len(out) != len(chunks):
    raise RuntimeError(f'phonemizer returned {len(out)} lines for '
                       f'{len(chunks)}.')
  return out


_PUNCT_CHARS = re.escape(''.join(_PUNCTUATION[1:]))
# A word: no spaces or punctuation, except ' and - inside (don't, well-known).
_WORD = re.compile(rf"[^\s{_PUNCT_CHARS}]+(?:['-][^\s{_PUNCT_CHARS}]+)*")


def _chunks(text):
  """Text as alternating parts: (True, 'words to say') or (False, ', ')."""
  parts = []
  position = 0
  for match in _WORD.finditer(text):
    gap = text[position:match.start()]
    if parts and parts[-1][0] and not gap.strip():
      parts[-1] = (True, parts[-1][1] + gap + match.group())
    else:
      if gap:
        parts.append((False, gap))
      parts.append((True, match.group()))
    position = match.end()
  if text[position:]:
    parts.append((False, text[position:]))
  return parts


def _is_speakable(c):
  """Characters espeak may see: Latin letters, table punctuation, space."""
  if c in _PUNCTUATION:
    return True
  return c.isalpha() and 'LATIN' in unicodedata.name(c, '')


def _fold_accents(text):
  """'café Æsir' -> 'cafe AEsir'."""
  text = text.replace('ß', 'ss').replace('æ', 'ae').replace('Æ', 'AE')
  text = text.replace('œ', 'oe').replace('Œ', 'OE').replace('ø', 'o')
  text = text.replace('Ø', 'O').replace('ð', 'd').replace('þ', 'th')
  decomposed = unicodedata.normalize('NFKD', text)
  return ''.join(c for c in decomposed if unicodedata.category(c) != 'Mn')


def _keep(text, allowed, dropped):
  """Text with the characters failing `allowed` replaced by spaces."""
  out = []
  for c in text:
    if allowed(c):
      out.append(c)
    else:
      dropped.add(c)
      out.append(' ')
  return re.sub(r' +', ' ', ''.join(out)).strip()


class TextFrontEnd:
  """Text -> int32 symbol ids for a TTS encoder, memoised per text.

  Attributes:
    kind: 'phonemes' or 'characters'.
    intersperse_blank: whether BLANK_ID goes around every symbol (Grad-TTS).
  """

  def __init__(self, kind: str = 'phonemes', intersperse_blank: bool = True):
    _check_kind(kind)
    self.kind = kind
    self.intersperse_blank = bool(intersperse_blank)
    self._ids = _IDS[kind]
    self._table = _TABLES[kind]
    self._cache = {}
    self._warned = set()

  @property
  def num_symbols(self) -> int:
    return len(self._table)

  def encode(self, text: str) -> np.ndarray:
    """int32 ids [N], N >= 1 (2 * symbols + 1 with blanks)."""
    return self.encode_many([text])[0]

  def encode_many(self, texts: Sequence[str]) -> list[np.ndarray]:
    """int32 ids [N_i] for each text; new texts are phonemised in one call.

    Results are memoised by text, so repeated texts cost a dict look-up; the
    returned arrays are shared and read-only.
    """
    texts = [str(t) for t in texts]
    new = list(dict.fromkeys(t for t in texts if t not in self._cache))
    if new:
      dropped = set()
      for text, symbols_ in zip(new, self._symbols(new, dropped)):
        self._cache[text] = self._to_ids(symbols_, dropped)
      self._warn(dropped)
    return [self._cache[t] for t in texts]

  def symbols_of(self, ids) -> str:
    """The symbols of ids [N] as one string, pad and blank removed."""
    ids = np.asarray(ids).reshape(-1)
    out = []
    for i in ids.tolist():
      if not 0 <= i < len(self._table):
        raise ValueError(f'Symbol id {i} is outside the {self.kind} table '
                         f'(0..{len(self._table) - 1}).')
      if i not in (PAD_ID, BLANK_ID):
        out.append(self._table[i])
    return ''.join(out)

  def _symbols(self, texts, dropped):
    """One symbol string per text; drops unusable characters into `dropped`."""
    if self.kind == 'characters':
      return [_keep(_fold_accents(normalize(t).lower()), self._ids.__contains__,
                    dropped) for t in texts]
    parts = [_chunks(_keep(normalize(t), _is_speakable, dropped))
             for t in texts]
    words = list(dict.fromkeys(
        s for text_parts in parts for is_words, s in text_parts if is_words))
    ipa = dict(zip(words, _espeak(words)))
    out = []
    for text_parts in parts:
      text = ''.join(ipa[s] if is_words else s for is_words, s in text_parts)
      out.append(re.sub(r' +', ' ', text).strip())
    return out

  def _to_ids(self, symbols_, dropped):
    """int32 ids [N] of a symbol string; unknown symbols go to `dropped`."""
    ids = []
    for s in symbols_:
      i = self._ids.get(s)
      if i is None:
        dropped.add(s)
      else:
        ids.append(i)
    if not ids:  # nothing speakable: a word space, so N >= 1 and shapes hold
      ids = [self._ids[' ']]
    if self.intersperse_blank:
      spaced = np.full(2 * len(ids) + 1, BLANK_ID, np.int32)
      spaced[1::2] = ids
      ids = spaced
    ids = np.asarray(ids, np.int32)
    ids.flags.writeable = False
    return ids

  def _warn(self, dropped):
    dropped = sorted((dropped - self._warned) - {' '})
    if dropped:
      self._warned.update(dropped)
      logging.warning('Text front end (%s) dropped symbols outside its table: '
                      '%s', self.kind,
                      ' '.join(f'{c!r}(U+{ord(c):04X})' for c in dropped))
