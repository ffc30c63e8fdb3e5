"""The TTS text front end: normalisation, symbol tables, ids, long text.

Phoneme tests skip when espeak-ng is not installed (Debian/Ubuntu:
`apt-get install espeak-ng`); the rest needs nothing beyond the venv.
"""

import logging
import shutil

import numpy as np
import pytest

from audiodiff.errors import UserError
from audiodiff.tts import text

requires_espeak = pytest.mark.skipif(
    shutil.which('espeak-ng') is None,
    reason='espeak-ng is not installed (Debian/Ubuntu: apt-get install '
    'espeak-ng)')

# Both kinds; the phoneme one skips without espeak-ng.
KINDS = [pytest.param('phonemes', marks=requires_espeak), 'characters']


@pytest.mark.parametrize('typed, said', [
    ('0', 'zero'),
    ('13', 'thirteen'),
    ('21', 'twenty one'),
    ('100', 'one hundred'),
    ('101', 'one hundred and one'),
    ('1999', 'one thousand nine hundred and ninety nine'),
    ('2024', 'two thousand and twenty four'),
    ('1000000', 'one million'),
    ('1,000,000', 'one million'),
    ('999999', 'nine hundred and ninety nine thousand nine hundred and '
     'ninety nine'),
    ('-5', 'minus five'),
    ('-3.5', 'minus three point five'),
    ('3.5', 'three point five'),
    ('0.25', 'zero point two five'),
    ('1st', 'first'),
    ('2nd', 'second'),
    ('3rd', 'third'),
    ('12th', 'twelfth'),
    ('22nd', 'twenty second'),
    ('101st', 'one hundred and first'),
    ('$5', 'five dollars'),
    ('$1', 'one dollar'),
    ('$5.50', 'five dollars and fifty cents'),
    ('$0.99', 'ninety nine cents'),
    ('$1.5 million', 'one point five million dollars'),
    ('£2', 'two pounds'),
    ('10%', 'ten percent'),
    ('2.5%', 'two point five percent'),
    ('007', 'zero zero seven'),
    ('10:30', 'ten thirty'),
    ('the 1990s', 'the nineteen nineties'),
    ('24:00', 'twenty four hundred'),
    ('18:00', 'eighteen hundred'),
    ('555-1234', 'five five five, one two three four'),
    ('1-800-555-1234', 'one, eight zero zero, five five five, one two three four'),
    ('(800) 555-1234', 'eight zero zero, five five five, one two three four'),
    ('1/2', 'one half'),
    ('3/4', 'three quarters'),
    ('1 1/2', 'one and a half'),
    ('2 2/3', 'two and two thirds'),
    ('24/7', 'twenty four seven'),
    ('10-20', 'ten to twenty'),
    ('COVID-19', 'COVID nineteen'),
    ('between 100-2000', 'between one hundred to two thousand'),
    ('in 1990', 'in nineteen ninety'),
    ('in 1905', 'in nineteen oh five'),
    ('since 2005', 'since two thousand and five'),
    ('from 1990-2000', 'from nineteen ninety to two thousand'),
    ('1990 dollars', 'one thousand nine hundred and ninety dollars'),
    ('9:00-17:00', "nine o'clock to seventeen hundred"),
    ('1:23:45', 'one hour twenty three minutes forty five seconds'),
    ('1/2%', 'one half percent'),
    ('on 12/25', 'on December twenty fifth'),
    ('12/25/2024', 'December twenty fifth, twenty twenty four'),
    ('2024-12-25', 'December twenty fifth, twenty twenty four'),
    ('5-10%', 'five to ten percent'),
    ('9am-5pm', 'nine a m to five p m'),
    ('3:30 PM', 'three thirty p m'),
    ('9-10 a.m. today', 'nine to ten a m today'),
    ('call 911', 'call nine one one'),
    ('since 9/11', 'since nine eleven'),
    ('+44 20 7946 0958', 'plus four four, two zero, seven nine four six, zero nine five eight'),
    ('$1/2', 'one half of a dollar'),
    ('version 1.2.3', 'version one point two point three'),
    ('10.0.0.1', 'ten dot zero dot zero dot one'),
    ('5km', 'five kilometres'),
    ('1 kg', 'one kilogram'),
    ('5 km/h', 'five kilometres per hour'),
    ('Louis XIV', 'Louis the fourteenth'),
    ('World War II', 'World War two'),
    ('₹50', 'fifty rupees'),
    ('3 - 2 = 1', 'three minus two equals one'),
    ('pages 3 - 5', 'pages three to five'),
    ('C# major', 'C sharp major'),
    ('1.5M users', 'one point five million users'),
    ('$2B', 'two billion dollars'),
    ('2bn people', 'two billion people'),
    ('$2.5m deal', 'two point five million dollars deal'),   # lower case after money
    ('£10k', 'ten thousand pounds'),
    ('221B Baker Street', 'two hundred and twenty one B Baker Street'),   # not a scale
    ('4K video', 'four K video'),
    ('3:1', 'three to one'),
])
def test_numbers_are_spelled_out(typed, said):
  assert text.normalize(typed) == said


def test_number_words_match_the_corpus_style():
  sentences = pytest.importorskip('audiodiff.data.sentences')
  for n in range(1000):
    assert text.number_words(n) == sentences.number_words(n)


def test_normalize_abbreviations_symbols_and_whitespace():
  assert (text.normalize('Mr. Smith met Dr. Jones at 42 Baker St.') ==
          'mister Smith met doctor Jones at forty two Baker street.')
  assert text.normalize('St. Paul & Anna, e.g. here') == (
      'saint Paul and Anna, for example here')
  assert text.normalize('pens, ink etc.') == 'pens, ink et cetera.'
  assert text.normalize('“Hi” — it’s   fine…\n\tok') == (
      '"Hi" - it\'s fine... ok')
  assert text.normalize('In 2024, 50% paid $3.50.') == (
      'In twenty twenty four, fifty percent paid three dollars '
      'and fifty cents.')
  # Control and zero-width characters go; case stays (espeak reads it).
  assert text.normalize('a\x00b\u200bc\x07 D') == 'abc D'
  assert not any(c.isdigit() for c in text.normalize('9 8.7 -6 5th 4% $3'))
  # Normalised text stays as it is (callers may normalise before splitting).
  for typed in ('Mr. Smith paid $3.50 at 5 p.m. Then he left.', 'pens etc.',
                '“Hi” — No. 7 & the 1990s, 3:00', "rock 'n' roll (x)"):
    once = text.normalize(typed)
    assert text.normalize(once) == once


def test_symbol_tables():
  assert text.SYMBOL_KINDS == ('phonemes', 'characters')
  assert (text.PAD_ID, text.BLANK_ID) == (0, 1)
  for kind in text.SYMBOL_KINDS:
    table = text.symbols(kind)
    assert len(set(table)) == len(table) == text.num_symbols(kind)
    assert all(s in table for s in ' .,?!;:-\'')
  phonemes = text.symbols('phonemes')
  assert all(s in phonemes for s in 'ˈˌːəɪʊɹðθʃʒŋæɑɔɛɜɚᵻɾʔɡ')
  assert text.symbols('characters')[-26:] == tuple('abcdefghijklmnopqrstuvwxyz')


def test_unknown_kind_is_a_user_error():
  with pytest.raises(UserError, match="'phonemes', 'characters'"):
    text.TextFrontEnd('letters')
  with pytest.raises(UserError, match='phonemes'):
    text.num_symbols('ipa')


@pytest.mark.parametrize('kind', KINDS)
def test_blanks_are_interspersed(kind):
  sentence = 'The old farmer counted twenty three apples, didn\'t he?'
  with_blanks = text.TextFrontEnd(kind).encode(sentence)
  plain = text.TextFrontEnd(kind, intersperse_blank=False).encode(sentence)
  assert with_blanks.dtype == plain.dtype == np.int32
  assert with_blanks.ndim == 1 and len(with_blanks) == 2 * len(plain) + 1
  assert np.all(with_blanks[0::2] == text.BLANK_ID)
  np.testing.assert_array_equal(with_blanks[1::2], plain)
  assert np.all((plain > text.BLANK_ID) & (plain < text.num_symbols(kind)))


@pytest.mark.parametrize('kind', KINDS)
def test_punctuation_is_kept_as_symbols(kind):
  front = text.TextFrontEnd(kind)
  said = front.symbols_of(front.encode('Well, is it? Yes; no: maybe - fine!'))
  marks = [c for c in said if c in '.,?!;:-']
  assert marks == [',', '?', ';', ':', '-', '!']


@pytest.mark.parametrize('kind', KINDS)
def test_unknown_characters_are_dropped_with_one_warning(kind, caplog):
  front = text.TextFrontEnd(kind)
  with caplog.at_level(logging.WARNING):
    ids = front.encode('hello 😀 中文 world\x07 ✓')
  np.testing.assert_array_equal(ids, front.encode('hello world'))
  warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1
  assert all(c in warnings[0].getMessage() for c in '😀中文✓')
  # Nothing speakable still gives a valid sequence.
  for empty in ('', '😀', '   '):
    ids = front.encode(empty)
    assert ids.dtype == np.int32 and len(ids) >= 1


def test_characters_mode():
  front = text.TextFrontEnd('characters', intersperse_blank=False)
  ids = front.encode('Dr. Müller paid $5!  OK?')
  assert front.symbols_of(ids) == 'doctor muller paid five dollars! ok?'
  assert front.symbols_of(np.pad(ids, (0, 3))) == front.symbols_of(ids)
  with pytest.raises(ValueError, match='outside'):
    front.symbols_of([text.num_symbols('characters')])


@requires_espeak
def test_phonemes_keep_stress_and_word_spaces():
  front = text.TextFrontEnd('phonemes')
  said = front.symbols_of(front.encode('Hello, world.'))
  assert said.endswith('.') and ', ' in said and 'ˈ' in said
  assert said.count(' ') == 1


@pytest.mark.parametrize('kind', KINDS)
def test_encode_many_equals_encode_in_one_call(kind, monkeypatch):
  texts = ['Anna found three boxes.', 'Why did Peter paint the door?',
           'Anna found three boxes.', '', 'Is the dog tired today?']
  expected = [text.TextFrontEnd(kind).encode(t) for t in texts]
  calls = []
  espeak = text._espeak
  monkeypatch.setattr(text, '_espeak', lambda c: calls.append(c) or espeak(c))
  front = text.TextFrontEnd(kind)
  got = front.encode_many(texts)
  assert len(got) == len(texts)
  for a, b in zip(got, expected):
    np.testing.assert_array_equal(a, b)
  assert len(calls) == (1 if kind == 'phonemes' else 0)
  again = front.encode_many(texts[::-1])  # memoised: no new call
  assert len(calls) == (1 if kind == 'phonemes' else 0)
  assert again[-1] is got[0]


@requires_espeak
def test_corpus_sentences_need_no_unknown_symbols(caplog):
  sentences = pytest.importorskip('audiodiff.data.sentences')
  with caplog.at_level(logging.WARNING):
    ids = text.TextFrontEnd('phonemes').encode_many(
        sentences.sentences(200, seed=0))
  assert not [r for r in caplog.records if r.levelno == logging.WARNING]
  assert min(len(i) for i in ids) > 20


def test_missing_espeak_is_a_user_error(monkeypatch):
  backend = pytest.importorskip('phonemizer.backend')
  monkeypatch.setattr(text, '_BACKEND', None)
  monkeypatch.setattr(backend.EspeakBackend, 'is_available',
                      classmethod(lambda cls: False))
  with pytest.raises(UserError, match='apt-get install espeak-ng') as error:
    text.TextFrontEnd('phonemes').encode('hello')
  assert '--config.tts.symbols=characters' in str(error.value)
  assert '\n' not in str(error.value)
  # Characters need no espeak.
  assert len(text.TextFrontEnd('characters').encode('hello')) == 11


def test_split_in_two_cuts_near_the_middle():
  assert text.split_in_two('one two three four') == ['one two', 'three four']
  # A comma in the middle half wins over the space nearest the middle.
  assert text.split_in_two('alpha beta, gamma delta epsilon') == ['alpha beta,',
                                                                  'gamma delta epsilon']
  assert text.split_in_two('abcdef') == ['abc', 'def']
  assert text.split_in_two('a') == ['a'] and text.split_in_two(' ') == []


def test_split_long():
  assert text.split_long('Short one.') == ['Short one.']
  assert text.split_long('   ') == []
  assert text.split_long('One two. Three four? Five!', max_chars=10) == [
      'One two.', 'Three', 'four?', 'Five!']
  # Short sentences are packed together while they fit.
  assert text.split_long('Aa. Bb. Cc. Dd.', max_chars=8) == ['Aa. Bb.',
                                                              'Cc. Dd.']
  # No cut after 'Mr.', nor inside '3.5'.
  assert text.split_long('Mr. Smith paid 3.5 dollars. Then he left.',
                         max_chars=30) == ['Mr. Smith paid 3.5 dollars.',
                                           'Then he left.']
  long_clause = 'a, ' * 30 + 'b; ' + 'word ' * 50
  pieces = text.split_long(long_clause, max_chars=40)
  assert all(0 < len(p) <= 40 for p in pieces)
  assert ' '.join(pieces).split() == long_clause.split()
  assert pieces[1].startswith('a,')  # a comma cut, not a mid-clause one
  assert text.split_long('x' * 25, max_chars=10) == ['x' * 10, 'x' * 10,
                                                     'x' * 5]


def test_output_names_keep_the_words_of_any_script():
  from audiodiff.tasks.tts import file_stem  # pylint: disable=g-import-not-at-top
  assert file_stem(0, 'Café au lait, naïve façade.') == '000_cafe_au_lait_naive_facade'
  assert file_stem(2, 'Привет, мир!') == '002_привет_мир'
  assert file_stem(1, '<speak>Hello <break time="1s"/> there.</speak>') == '001_hello_there'
  assert file_stem(7, '...') == '007_utterance'
