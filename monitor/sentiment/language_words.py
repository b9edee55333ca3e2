"""Common words per language: how a text of a few words is placed when n-grams cannot tell.

Lingua's low-accuracy mode reads "thanks acme!" as Afrikaans and "This is so beautiful !" as
French: a handful of words is too few trigrams. People writing to a brand use the same few
hundred words in every language (thanks, please, still, my order, does not work), so a vote of
the words a short text shares with each language's list decides it, with lingua as the fallback.
Words are folded (`monitor.sentiment.rules.fold`: lower case, no accents) before they are compared.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from monitor.sentiment import lexicon as sentiment_lexicon
from monitor.sentiment.rules import fold

_WORDS: dict[str, str] = {
    "en": "the and you your this that thanks thank love great good bad so very is was not my me "
    "i it it's what why how when where who please help guess beautiful awesome amazing nice "
    "terrible worst best order still again never ever just really can't don't doesn't won't "
    "yes hi hello wow cool happy angry broken working fix customer with from are have "
    "has been would could should they our there about does did but for to of in on a an new "
    "today ship got get all out up one more time now here thing stuff support thx brilliant "
    "hate",
    "nl": "de het een en is niet geen wel ook maar mijn jullie jij je ik we wat waarom hoe "
    "wanneer waar nog steeds weer al dank bedankt heel erg echt super blij leuk goed slecht "
    "werkt komt met voor van op naar dat dit zijn hebben heb kan moet graag bestelling pakket "
    "pakketje nieuwe versie ontvangen",
    "de": "der die das und ist nicht kein keine ich du ihr wir mein meine euch danke vielen "
    "dank sehr echt toll super schnell gut schlecht immer noch schon wieder warum wann wo wie "
    "auch fur mit von auf bei geht gibt es paket bestellung geliefert kundenservice frechheit "
    "da den dem ein eine im",
    "fr": "le la les un une des et est pas ne je tu vous nous mon ma mes merci beaucoup tres "
    "trop bien super nouvelle toujours encore pourquoi quand ou comment avec pour sur dans "
    "chez ca c'est livrez commande colis appli aucune reponse rembourse service client nul "
    "panne en",
    "es": "el la los las un una y es no que mi mis me te muy gracias muchas encanta genial "
    "bueno buena malo todavia nunca mas ya por porque cuando donde como con para en hacen "
    "envios pedido llegado ha funciona servicio de del",
    "pt": "o a os as um uma e nao que meu minha voces voce muito obrigado obrigada adorei amei "
    "otimo bom ruim ainda nunca mais ja por porque quando onde como com para no na do da "
    "entregam pedido chegou funciona atendimento ninguem de em",
    "it": "il lo la i gli un una e non che mio mia voi grazie mille molto ottimo bello brutto "
    "ancora mai piu gia perche quando dove come con per nel della di spedite ordine arrivato "
    "funziona servizio anche",
    "et": "ja on ei ole see mis kas te ma mina sa meie aitah tanan vaga hea halb ikka jalle "
    "veel miks millal kus kuidas ka ning pood tellimus teenindus tootab rahul uus uue "
    "mudel mudeli tellisin just",
    "af": "die en is nie niks ek jy julle ons my baie dankie goed sleg nog steeds weer hoekom "
    "wanneer waar hoe ook met vir van op se het werk lewer diens pakkie bestelling",
    "sv": "och ar inte jag du ni vi min mitt tack sa mycket bra dalig fortfarande igen varfor "
    "nar var hur ocksa med for pa till har kommit funkar fungerar levererar paketet kundtjanst "
    "varsta nagonsin jattebra",
    "da": "og er ikke jeg du i vi min mit jeres jer tak tusind meget godt darlig stadig igen "
    "hvorfor hvornar hvor hvordan ogsa med for pa til har kommet virker leverer pakken "
    "kundeservice elendig ingen svarer",
    "nb": "og er ikke jeg du dere vi min mitt takk tusen veldig bra darlig fortsatt igjen "
    "hvorfor nar hvor hvordan ogsa med for pa til har kommet fungerer virker leverer pakken "
    "kundeservice elendig ingen svarer fornøyd",
    "fi": "ja on ei se tama mita miksi milloin missa kiitos paljon todella hyva huono viela "
    "taas myos kanssa sovellus toimi toimii palvelu asiakaspalvelu tilaus paketti",
    "pl": "i w z na nie jest to ze moj moja wy my dziekuje bardzo dzieki super dobry zly nadal "
    "znowu dlaczego kiedy gdzie jak tez do dla czy paczka zamowienie aplikacja dziala obsługa "
    "klienta najgorsza",
}


def _lexicon_words(language: str) -> set[str]:
    """Whole words of the language's complaint and praise phrases (not the `*` prefixes)."""
    phrases = sentiment_lexicon.NEGATIVE.get(language, ()) + sentiment_lexicon.POSITIVE.get(
        language, ()
    )
    return {w for p in phrases if not p.endswith("*") for w in fold(p).split() if len(w) > 1}


@lru_cache(maxsize=8)
def weights(languages: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """word -> {language: 1/k}, where k is how many of `languages` use the word."""
    vocab = {code: {fold(w) for w in _WORDS.get(code, "").split()} for code in languages}
    for code in languages:
        vocab[code] |= _lexicon_words(code)
    table: dict[str, dict[str, float]] = {}
    for code, words in vocab.items():
        for word in words:
            table.setdefault(word, {})[code] = 1.0
    for shares in table.values():
        for code in shares:
            shares[code] = 1.0 / len(shares)
    return table


def vote(words: Iterable[str], languages: tuple[str, ...]) -> tuple[list[tuple[str, float]], int]:
    """Languages ranked by the (shared-word-weighted) count of distinct words they know, and
    how many of the distinct words any of them knows."""
    table = weights(languages)
    totals: dict[str, float] = {}
    known = 0
    for word in set(words):
        shares = table.get(word)
        if shares:
            known += 1
            for code, share in shares.items():
                totals[code] = totals.get(code, 0.0) + share
    return sorted(totals.items(), key=lambda item: (-item[1], item[0])), known
