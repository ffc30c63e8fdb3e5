"""Varied English sentences from a seed: the scripts of the flite speech corpus.

A small grammar (templates filled from word lists: names, nouns, adjectives,
verbs, numbers, places, times) gives statements, questions and requests of 4 to
15 words. The combinations run to many millions, so thousands of draws are
almost all distinct; `sentence_stream` removes the rare repeats.

Numbers are spelled out ("twenty three"), so the text is exactly what a
synthesiser says and can serve as a transcript as is.

Pure Python: `random.Random(seed)` gives the same sentences on every platform
and Python version (3.6+) for an integer seed.
"""

import hashlib
import itertools
import random

MIN_WORDS = 4
MAX_WORDS = 15
# Share of all possible texts that belong to the test split (by text hash).
TEST_PERCENT = 10

NAMES = (
    'Anna', 'Peter', 'Maria', 'David', 'Sophie', 'James', 'Laura', 'Thomas',
    'Emma', 'Daniel', 'Clara', 'Oliver', 'Helen', 'Samuel', 'Alice', 'George',
    'Nora', 'Victor', 'Ruth', 'Martin', 'Julia', 'Henry', 'Grace', 'Oscar',
)

# (singular, plural)
NOUNS = (
    ('apple', 'apples'), ('basket', 'baskets'), ('bicycle', 'bicycles'),
    ('bird', 'birds'), ('boat', 'boats'), ('book', 'books'),
    ('bottle', 'bottles'), ('box', 'boxes'), ('candle', 'candles'),
    ('chair', 'chairs'), ('child', 'children'), ('coat', 'coats'),
    ('cup', 'cups'), ('dog', 'dogs'), ('door', 'doors'),
    ('engine', 'engines'), ('farmer', 'farmers'), ('flower', 'flowers'),
    ('garden', 'gardens'), ('guitar', 'guitars'), ('hammer', 'hammers'),
    ('horse', 'horses'), ('island', 'islands'), ('key', 'keys'),
    ('lamp', 'lamps'), ('letter', 'letters'), ('map', 'maps'),
    ('nurse', 'nurses'), ('orange', 'oranges'), ('painter', 'painters'),
    ('piano', 'pianos'), ('pilot', 'pilots'), ('river', 'rivers'),
    ('sailor', 'sailors'), ('shoe', 'shoes'), ('song', 'songs'),
    ('stone', 'stones'), ('student', 'students'), ('table', 'tables'),
    ('teacher', 'teachers'), ('ticket', 'tickets'), ('tree', 'trees'),
    ('truck', 'trucks'), ('violin', 'violins'), ('wagon', 'wagons'),
    ('window', 'windows'), ('wolf', 'wolves'), ('photograph', 'photographs'),
)

ADJECTIVES = (
    'old', 'young', 'small', 'large', 'quiet', 'noisy', 'bright', 'dark',
    'heavy', 'light', 'red', 'green', 'blue', 'yellow', 'gray', 'white',
    'broken', 'shiny', 'wooden', 'tired', 'happy', 'strange', 'gentle',
    'empty', 'famous', 'ancient', 'elegant', 'curious', 'ordinary', 'tiny',
    'enormous', 'clever', 'dusty', 'warm', 'cold', 'silver', 'golden',
)

# (base, third person singular, past)
VERBS = (
    ('carry', 'carries', 'carried'), ('paint', 'paints', 'painted'),
    ('find', 'finds', 'found'), ('build', 'builds', 'built'),
    ('clean', 'cleans', 'cleaned'), ('open', 'opens', 'opened'),
    ('sell', 'sells', 'sold'), ('buy', 'buys', 'bought'),
    ('watch', 'watches', 'watched'), ('follow', 'follows', 'followed'),
    ('repair', 'repairs', 'repaired'), ('draw', 'draws', 'drew'),
    ('hide', 'hides', 'hid'), ('lift', 'lifts', 'lifted'),
    ('push', 'pushes', 'pushed'), ('pull', 'pulls', 'pulled'),
    ('count', 'counts', 'counted'), ('borrow', 'borrows', 'borrowed'),
    ('return', 'returns', 'returned'), ('describe', 'describes', 'described'),
    ('remember', 'remembers', 'remembered'), ('visit', 'visits', 'visited'),
    ('photograph', 'photographs', 'photographed'),
    ('wash', 'washes', 'washed'), ('catch', 'catches', 'caught'),
    ('bring', 'brings', 'brought'), ('choose', 'chooses', 'chose'),
    ('move', 'moves', 'moved'), ('measure', 'measures', 'measured'),
    ('deliver', 'delivers', 'delivered'),
)

PLACES = (
    'in the kitchen', 'near the river', 'behind the station', 'at the market',
    'on the hill', 'under the bridge', 'in the garden', 'by the lake',
    'inside the museum', 'at the harbor', 'in the old town', 'on the roof',
    'across the street', 'in the library', 'at the airport', 'in the forest',
    'beside the church', 'on the beach', 'in the village', 'at the school',
    'near the castle', 'in the valley', 'on the train', 'at the bakery',
)

# Time adverbials by the tense they fit ('will paint yesterday' does not).
_ANY_TIME = ('at noon', 'after lunch', 'before dawn', 'at midnight',
             'early in the morning', 'late in the afternoon', 'in the spring',
             'on Friday evening')
TIMES = {
    'past': _ANY_TIME + ('yesterday', 'last night', 'last winter',
                         'two days ago', 'this morning', 'on Monday'),
    'present': _ANY_TIME + ('every summer', 'every Sunday', 'on Fridays',
                            'every morning', 'today'),
    'future': _ANY_TIME + ('tomorrow', 'next week', 'on Monday', 'tonight',
                           'next summer', 'today'),
}

REASONS = (
    'it was raining', 'the shop was closed', 'nobody else could',
    'the road was icy', 'the light was perfect', 'the bus was late',
    'the music was loud', 'the day was long', 'the door was locked',
    'everyone was asleep', 'the wind was strong', 'the price was fair',
)

ONES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
         'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen',
         'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen')
_TENS = ('', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy',
         'eighty', 'ninety')


def number_words(n):
  """English words for 0 <= n < 1000 ("one hundred and five")."""
  if not 0 <= n < 1000:
    raise ValueError(f'number_words supports 0..999, got {n}.')
  if n < 20:
    return ONES[n]
  if n < 100:
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f' {ONES[ones]}' if ones else '')
  hundreds, rest = divmod(n, 100)
  words = f'{ONES[hundreds]} hundred'
  return words + (f' and {number_words(rest)}' if rest else '')


def _article(word):
  return 'an' if word[0] in 'aeiou' else 'a'


class _Grammar:
  """Phrase makers over one random.Random; each returns a string."""

  def __init__(self, rng):
    self.rng = rng

  def pick(self, options):
    return self.rng.choice(options)

  def chance(self, p):
    return self.rng.random() < p

  def number(self):
    # Mostly small counts, sometimes larger ones, to vary the numeral words.
    if self.chance(0.7):
      return self.rng.randint(2, 20)
    return self.rng.randint(21, 999)

  def noun_phrase(self, definite=False):
    """(phrase, is_plural): 'the old farmer', 'three blue cups', 'Anna'.

    definite=True: no names and no 'a'/'an' (subjects, comparisons).
    """
    kind = self.rng.random()
    singular, plural = self.pick(NOUNS)
    adjective = self.pick(ADJECTIVES) if self.chance(0.6) else None
    body = f'{adjective} {singular}' if adjective else singular
    if kind < 0.15 and not definite:
      return self.pick(NAMES), False
    if kind < 0.3:
      count = number_words(self.number())
      body = f'{adjective} {plural}' if adjective else plural
      return f'{"the " if definite else ""}{count} {body}', True
    if kind < 0.45:
      owner = self.pick(('my', 'your', 'our', 'their', 'his', 'her'))
      return f'{owner} {body}', False
    if not definite and kind < 0.6:
      return f'{_article(body)} {body}', False
    return f'the {body}', False

  def subject(self):
    if self.chance(0.2):
      return self.pick(NAMES), False
    return self.noun_phrase(definite=True)

  def verb(self, tense, plural):
    base, third, past = self.pick(VERBS)
    if tense == 'past':
      return past
    if tense == 'future':
      return f'will {base}'
    return base if plural else third

  def tail(self, tense):
    """Optional place and/or time adverbials fitting `tense`."""
    parts = []
    if self.chance(0.5):
      parts.append(self.pick(PLACES))
    if self.chance(0.4):
      parts.append(self.pick(TIMES[tense]))
    return (' ' + ' '.join(parts)) if parts else ''

  def tense(self):
    return self.pick(('past', 'past', 'present', 'future'))


def _statement(g):
  subject, plural = g.subject()
  obj, _ = g.noun_phrase()
  tense = g.tense()
  return f'{subject} {g.verb(tense, plural)} {obj}{g.tail(tense)}.'


def _reason(g):
  subject, plural = g.subject()
  obj, _ = g.noun_phrase()
  return (f'{subject} {g.verb("past", plural)} {obj} because '
          f'{g.pick(REASONS)}.')


def _when_clause(g):
  first, _ = g.subject()
  second, second_plural = g.subject()
  obj, _ = g.noun_phrase()
  conjunction, event = g.pick((('When', 'arrived'), ('After', 'left'),
                               ('Before', 'woke up'), ('While', 'slept')))
  return (f'{conjunction} {first} {event}, {second} '
          f'{g.verb("past", second_plural)} {obj}.')


def _reported(g):
  speaker = g.pick(NAMES)
  subject, plural = g.subject()
  obj, _ = g.noun_phrase()
  said = g.pick(('said', 'thinks', 'heard', 'wrote'))
  return f'{speaker} {said} that {subject} {g.verb(g.tense(), plural)} {obj}.'


def _there_are(g):
  singular, plural = g.pick(NOUNS)
  adjective = g.pick(ADJECTIVES)
  n = g.number()
  verb = g.pick(('There are', 'There were', 'We saw', 'They counted'))
  return f'{verb} {number_words(n)} {adjective} {plural} {g.pick(PLACES)}.'


def _yes_no_question(g):
  subject, plural = g.subject()
  obj, _ = g.noun_phrase()
  base = g.pick(VERBS)[0]
  aux, tense = g.pick((('Did', 'past'), ('Will', 'future'),
                       ('Can', 'future'), ('Should', 'future'),
                       ('Do' if plural else 'Does', 'present')))
  return f'{aux} {subject} {base} {obj}{g.tail(tense)}?'


def _wh_question(g):
  subject, _ = g.subject()
  obj, _ = g.noun_phrase()
  base = g.pick(VERBS)[0]
  wh = g.pick(('Why', 'Where', 'When', 'How'))
  aux = g.pick(('did', 'will', 'could', 'should'))
  return f'{wh} {aux} {subject} {base} {obj}?'


def _how_many(g):
  _, plural = g.pick(NOUNS)
  adjective = g.pick(ADJECTIVES)
  subject, _ = g.subject()
  base = g.pick(VERBS)[0]
  return f'How many {adjective} {plural} did {subject} {base}{g.tail("past")}?'


def _is_it(g):
  subject, plural = g.noun_phrase(definite=True)
  verb = 'Are' if plural else 'Is'
  tail = g.pick(PLACES) if g.chance(0.5) else g.pick(TIMES['present'])
  return f'{verb} {subject} {g.pick(ADJECTIVES)} {tail}?'


def _request(g):
  obj, _ = g.noun_phrase()
  base = g.pick(VERBS)[0]
  opening = g.pick(('Please', 'Could you', 'Remember to', 'Try to'))
  mark = '?' if opening == 'Could you' else '.'
  return f'{opening} {base} {obj}{g.tail("future")}{mark}'


def _comparison(g):
  first, plural = g.noun_phrase(definite=True)
  second, _ = g.noun_phrase(definite=True)
  verb = ('are' if plural else 'is') if g.chance(0.6) else (
      'were' if plural else 'was')
  quality = g.pick(('older', 'smaller', 'larger', 'quieter', 'brighter',
                    'heavier', 'warmer', 'stranger', 'cleaner', 'faster'))
  return f'{first} {verb} {quality} than {second}.'


# (template, weight): statements dominate, as in read speech corpora.
_TEMPLATES = (
    (_statement, 5), (_reason, 2), (_when_clause, 1), (_reported, 2),
    (_there_are, 1), (_yes_no_question, 2), (_wh_question, 2), (_how_many, 1),
    (_is_it, 1), (_request, 1), (_comparison, 1),
)


def num_words(text):
  return len(text.split())


def random_sentence(rng):
  """One sentence of MIN_WORDS..MAX_WORDS words.

  Args:
    rng: random.Random; it is advanced.

  Returns:
    A capitalised sentence ending in '.' or '?'.
  """
  grammar = _Grammar(rng)
  templates, weights = zip(*_TEMPLATES)
  while True:  # ~2% of draws fall outside; redraw rather than truncate.
    template = rng.choices(templates, weights=weights)[0]
    text = template(grammar)
    if MIN_WORDS <= num_words(text) <= MAX_WORDS:
      return text[0].upper() + text[1:]


def sentence_stream(seed):
  """Endless iterator of distinct sentences, a pure function of `seed`."""
  rng = random.Random(int(seed))
  seen = set()
  while True:
    text = random_sentence(rng)
    if text not in seen:
      seen.add(text)
      yield text


def sentences(num, seed):
  """The first `num` distinct sentences of `sentence_stream(seed)`."""
  return list(itertools.islice(sentence_stream(seed), num))


def split_of(text):
  """'test' for ~TEST_PERCENT% of all texts (by hash of the text), else 'train'.

  Deciding by the text itself keeps the splits disjoint however many sentences
  are drawn, and the test texts stay the same when num_train changes.
  """
  digest = hashlib.md5(text.encode('utf-8')).digest()
  bucket = int.from_bytes(digest[:8], 'big') % 100
  return 'test' if bucket < TEST_PERCENT else 'train'


def split_sentences(num_train, num_test, seed):
  """{'train': [num_train texts], 'test': [num_test texts]}, disjoint.

  Both lists are prefixes of the split's own stream: asking for more train
  sentences appends to the train list and leaves the test list unchanged.
  """
  wanted = {'train': int(num_train), 'test': int(num_test)}
  out = {'train': [], 'test': []}
  for text in sentence_stream(seed):
    if all(len(out[s]) >= wanted[s] for s in out):
      break
    split = split_of(text)
    if len(out[split]) < wanted[split]:
      out[split].append(text)
  return out
