"""Built-in rule phrases: strong complaint (and a few praise) phrases and negators per language.

Phrases are matched case- and accent-insensitively at word boundaries; a trailing `*` matches
any word ending ("teleurgesteld*" also catches "teleurgestelde"). A negative phrase preceded by
a negator in the same clause is ignored; a positive one becomes a complaint ("niet tevreden").
English praise is left to TextBlob; English complaint phrases cover what TextBlob scores 0.0
("doesn't work", "still waiting", "cancel my subscription").
"""

from __future__ import annotations


def _phrases(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split("|") if p.strip())


NEGATORS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "not no never nothing nobody none neither nor without hardly don't doesn't didn't "
        "isn't wasn't aren't weren't won't can't cannot couldn't wouldn't shouldn't hasn't "
        "haven't hadn't".split()
    ),
    "nl": frozenset("niet geen nooit nergens niks niets noch zonder".split()),
    "de": frozenset("nicht kein keine keinen keinem keiner nie niemals nichts ohne kaum".split()),
    "fr": frozenset("pas ne n jamais aucun aucune sans ni guere".split()),
    "es": frozenset("no nunca ni tampoco sin nada nadie jamas".split()),
    "pt": frozenset("nao nunca nem sem nenhum nenhuma jamais nada".split()),
    "it": frozenset("non mai nessuno nessuna niente nulla senza ne".split()),
    "et": frozenset("ei mitte pole ega ilma polnud".split()),
    "af": frozenset("nie geen nooit niks niemand sonder".split()),
    "sv": frozenset("inte ej aldrig ingen inget inga utan".split()),
    "da": frozenset("ikke aldrig ingen intet uden".split()),
    "nb": frozenset("ikke aldri ingen intet uten".split()),
    "fi": frozenset("ei en et emme ette eivat ilman".split()),
    "pl": frozenset("nie nigdy zaden zadna zadne bez".split()),
}
# Negators that are ordinary words elsewhere ("en" = "and" in Dutch, "et" = "and" in French):
# left out when the language of the text is unknown.
AMBIGUOUS_NEGATORS = frozenset({"en", "et", "ne", "no", "ei"})


NEGATIVE: dict[str, tuple[str, ...]] = {
    "en": _phrases(
        "want a refund | my refund | get a refund | no refund | refund me | money back | cancel "
        "my | cancelling my | canceling my | unsubscribe | charged twice | double charged | "
        "overcharged | scam* | rip off | ripoff | rip-off | fraud* | never again | not working "
        "| doesn't work | does not work | don't work | isn't working | stopped working | "
        "nothing works | won't let me | can't log in | cannot log in | can't login | locked out "
        "| still waiting | still not | still hasn't | hasn't arrived | has not arrived | never "
        "arrived | never received | not received | didn't receive | never comes | no response | "
        "no reply | no answer | nobody answers | no one answers | nobody can | no one can | on "
        "hold | crashing | crashes | crashed | keeps crashing | broken | broke | damaged | "
        "unusable | useless | waste of money | waste of time | avoid | disappointed | "
        "disappointing | ridiculous | unacceptable | pathetic | disgrace* | shameful | worst | "
        "awful | terrible | horrible | rude | outage | down again | lost my | where is my | "
        "where's my | stuck | fix this | please fix | complain* | not happy | not impressed | "
        "not buying | stay away | sucks | garbage | trash | furious | fuming | annoying | "
        "frustrat* | wrong item | took my money | without fixing | so slow | too slow | thanks "
        "for nothing | not helpful | unhelpful | not delivered | never delivered | wasn't "
        "delivered | hasn't been delivered | wrong address | fix your | "
        "won't load | doesn't load | not loading | can't load"
    ),
    "nl": _phrases(
        "verschrikkelijk* | waardelo* | slecht* | belachelijk* | teleurgesteld* | teleurstell* "
        "| oplicht* | schandalig* | schande | bagger | klote | kut | drama | kapot | defect* | "
        "werkt niet | werkt nog steeds niet | doet het niet | lukt niet | nooit meer | niemand "
        "reageert | geen reactie | geen antwoord | geen gehoor | geld terug | geld niet terug | "
        "opzeggen | opzegg* | in de wacht | te laat | onbeleefd* | onbeschoft* | ergerlijk* | "
        "irritant* | traag | storing* | crasht | klacht* | twee keer betaald | dubbel betaald | "
        "dubbel afgeschreven | niet ontvangen | nog steeds niet | nog steeds geen | waar blijft "
        "| fraude | nep | afzet* | rampzalig* | vreselijk* | blijf weg | niet aan te raden | "
        "afrader | wie helpt | onbereikbaar | woedend | boos | frustr* | beschadigd | bedankt "
        "voor niks | bedankt voor niets"
    ),
    "de": _phrases(
        "katastroph* | schrecklich* | furchtbar* | unverschämt* | frechheit | schlecht* | "
        "nutzlos* | unbrauchbar* | schrott | enttäusch* | betrug* | betrüger* | abzocke* | "
        "skandal* | nie wieder | funktioniert nicht | funktioniert gar nichts | funktioniert "
        "nichts | geht nicht | stürzt | absturz | abgestürzt | kaputt | beschädigt | defekt* | "
        "zu spät | verspät* | immer noch nicht | noch immer nicht | nicht angekommen | nicht "
        "erhalten | nicht geliefert | keine antwort | keine rückmeldung | niemand ruft | "
        "niemand antwortet | niemand meldet | geld zurück | kündig* | doppelt abgebucht | "
        "zweimal abgebucht | warteschleife | störung* | ärgerlich* | unfreundlich* | "
        "inkompetent* | miserabel* | finger weg | nicht zu empfehlen | unzumutbar* | danke für "
        "nichts | unmöglich"
    ),
    "fr": _phrases(
        "nul | nulle | naze | inadmissible | inacceptable | honte* | honteu* | scandal* | "
        "arnaque* | escroc* | escroquerie | voleur* | déçu* | décevant* | déception | "
        "catastroph* | horrible* | lamentable* | pitoyable | inutilisable | ne fonctionne pas | "
        "ne marche pas | marche pas | fonctionne pas | ça plante | plante tout le temps | bug* "
        "| en panne | panne* | cassé* | abîmé* | endommag* | pas arrivé* | toujours pas | "
        "jamais reçu | pas reçu | aucune réponse | personne ne répond | pas de réponse | "
        "rembours* | résilier | résiliation | désabonner | prélevé deux fois | débité deux fois "
        "| en retard | retard | perdu | plus jamais | à fuir | fuyez | ne recommande pas | pas "
        "terrible | merci pour rien | insupportable | mauvais* | médiocre | trop lent | "
        "ridicule"
    ),
    "es": _phrases(
        "pésim* | horrible* | fatal | terrible* | malísim* | vergüenza | vergonzos* | estafa* | "
        "timo | fraude | ladrones | decepci* | no funciona | no sirve | roto | rota | dañad* | "
        "defectuos* | sin llegar | no ha llegado | no llega | no me llegó | nunca llegó | nadie "
        "responde | nadie me responde | nadie contesta | sin respuesta | ninguna respuesta | "
        "devuelvan mi dinero | mi dinero | reembolso | cancelar mi | darme de baja | dar de "
        "baja | cobraron dos veces | cobro doble | nunca más | no lo recomiendo | no recomiendo "
        "| me colgaron | en espera | basura | porquería | asco | desastre | harto | harta | "
        "indignad* | inaceptable | gracias por nada | sin servicio | no me dejan | sin solución "
        "| mal servicio | muy mal | mala atención | mala calidad | lentísim*"
    ),
    "pt": _phrases(
        "péssim* | horrível | horrivel | terrível | lixo | vergonha | golpe | fraude | "
        "enganação | decepção | decepcionad* | não funciona | não consigo | trava* | quebrad* | "
        "defeito | não chegou | nunca chegou | ninguém responde | ninguém resolve | sem "
        "resposta | dinheiro de volta | reembolso | estorno | cancelar | cobraram duas vezes | "
        "cobrança indevida | nunca mais | não recomendo | atrasad* | atraso | demora* | ruim | "
        "absurdo | ridículo | palhaçada | descaso | desrespeito | insatisfeit* | mal atendid* | "
        "obrigado por nada | obrigada por nada"
    ),
    "it": _phrases(
        "pessim* | orribile | schifo* | vergogn* | truffa* | truffatori | ladri | delusione | "
        "delus* | non funziona | non va | si blocca | bloccat* | inutilizzabile | inutile | "
        "rotto | rotta | difettos* | danneggiat* | non è arrivato | non è ancora arrivato | mai "
        "arrivato | mai ricevuto | non ho ricevuto | nessuno risponde | nessuna risposta | "
        "rimborso | soldi indietro | disdire | disdetta | addebitato due volte | mai più | non "
        "lo consiglio | sconsiglio | in ritardo | ritardo | scandal* | indecente | "
        "inaccettabile | presa in giro | disastro | disservizio | scadente | grazie di niente | "
        "grazie per niente"
    ),
    "et": _phrases(
        "kohutav* | jube | õudne | halb | halva* | halvim* | kasutu | mõttetu | pettun* | "
        "pettumus | petis* | pettus | häbi* | skandaal* | ei tööta | ei toimi | jookseb kokku | "
        "katki | rikkis | vigane | pole kohale jõudnud | ei ole kohale jõudnud | pole saabunud "
        "| ei saabunud | ikka veel | keegi ei vasta | ei vasta | vastust pole | raha tagasi | "
        "tühista* | kaks korda maha | enam kunagi | ei soovita | hilin* | aeglane | ebaviisakas "
        "| ülbe | jama | sitt | nõme | vastik | mitte millegi eest"
    ),
    "af": _phrases(
        "swak | pateties* | nutteloos* | hopeloos | teleurgesteld* | teleurstel* | skandalig* | "
        "skande | bedrieër* | bedrog | swendel* | verskriklik* | aaklig* | werk nie | werk glad "
        "nie | crash* | stukkend | beskadig | gebreek | nog steeds nie | nie opgedaag | nooit "
        "ontvang | nie ontvang | niemand antwoord | niemand help | geen antwoord | geen reaksie "
        "| geld terug | terugbetaling | kanselleer | twee keer gedebiteer | dubbel gedebiteer | "
        "nooit weer | moenie koop | te laat | stadig | onbeskof | ongeskik | frustrerend | "
        "gatvol | kak | belaglik | onaanvaarbaar | ergste | sleg*"
    ),
    "sv": _phrases(
        "dålig* | värdelös* | hemsk* | fruktansvärd* | besviken | besvikelse | bedrägeri | "
        "fungerar inte | funkar inte | trasig* | aldrig mer | ingen svarar | inget svar | "
        "pengarna tillbaka | säga upp | försenad* | katastrof* | skandal* | oacceptabel* | "
        "skräp | usel* | värst* | inte kommit | inte fått | fortfarande inte | ingen svar | var är "
        "min | var är mitt | dragit två gånger | väntar fortfarande | fortfarande ingen"
    ),
    "da": _phrases(
        "dårlig* | elendig* | værdiløs* | skuffet | skuffende | svindel | fungerer ikke | "
        "virker ikke | i stykker | aldrig igen | ingen svarer | intet svar | pengene tilbage | "
        "opsige | forsinket | katastrofe | skandale | uacceptabel* | lort | ikke kommet | "
        "stadig ikke "
        "| ingen svar | hvor er min | hvor bliver | trukket to gange | venter stadig | stadig ingen"
    ),
    "nb": _phrases(
        "dårlig* | elendig* | verdiløs* | skuffet | skuffende | svindel | fungerer ikke | "
        "virker ikke | i stykker | aldri igjen | ingen svarer | ikke noe svar | pengene tilbake "
        "| si opp | forsinket | katastrofe | skandale | uakseptabel* | møkk* | ikke kommet | "
        "fortsatt ikke | ingen svar | hvor er min | hvor blir | trukket to ganger | venter "
        "fortsatt | fortsatt ingen"
    ),
    "fi": _phrases(
        "huono* | surkea* | kamala* | hirveä* | pettynyt | pettymys | huijaus | huijari* | ei "
        "toimi | rikki | ei enää koskaan | ei vastaa | rahat takaisin | myöhässä | skandaali | "
        "törkeä* | paska* | käyttökelvoton | missä on tilaukseni | missä on pakettini | "
        "veloitettiin kahdesti | odotan vieläkin | ei vastausta | vieläkään"
    ),
    "pl": _phrases(
        "beznadziej* | fatalnie | fatalny | okropn* | tragedia | tragiczn* | rozczarowan* | "
        "oszust* | nie działa | zepsut* | uszkodzon* | nigdy więcej | nikt nie odpowiada | brak "
        "odpowiedzi | zwrot pieniędzy | reklamacj* | opóźnien* | skandal* | żenada | żenujące | "
        "masakra | porażka | syf | najgorsz* | nie dotarł* | nie doszł* | nadal nie | wciąż nie | "
        "gdzie jest moja | gdzie jest moje | pobrali dwa razy | nadal czekam | dalej czekam"
    ),
}


POSITIVE: dict[str, tuple[str, ...]] = {
    "nl": _phrases(
        "geweldig* | fantastisch* | uitstekend* | aanrader | super snel* | super blij | blij "
        "met | heel blij | erg blij "
        "| zeer blij | blij mee | tevreden | bedankt voor de snelle | dank voor de snelle | "
        "snel opgelost | opgelost | prima | perfect | netjes | vriendelijk* | goed geholpen | "
        "top service | echt top | super service"
    ),
    "de": _phrases(
        "super service | vielen dank | danke für die schnelle | zufrieden | empfehlung | "
        "empfehlenswert | hervorragend* | ausgezeichnet* | toll* | klasse | spitze | perfekt* | "
        "schnelle lieferung | freundlich* | großartig* | wunderbar* | begeistert | genial*"
    ),
    "fr": _phrases(
        "merci beaucoup | merci pour votre aide | super service | excellent* | génial* | "
        "parfait* | satisfait* | je recommande | recommande vivement | bravo | ravi* | "
        "livraison rapide | efficace* | au top | impeccable | formidable | merveilleu*"
    ),
    "es": _phrases(
        "excelente* | me encanta | encantad* | genial | gracias por | muchas gracias | contento "
        "| contenta | satisfech* | lo recomiendo | recomendable | perfecto | maravill* | "
        "buenísim* | buena atención | fácil de usar | buena | bueno | buen servicio"
    ),
    "pt": _phrases(
        "adorei | amei | excelente | ótimo | ótima | perfeito | recomendo | muito obrigad* | "
        "satisfeit* | maravilhos* | entrega rápida | fácil de usar | parabéns"
    ),
    "it": _phrases(
        "eccellente | ottim* | perfett* | grazie mille | soddisfatt* | lo consiglio | "
        "fantastic* | bravissim* | velocissim* | gentilissim* | cortesi* | facile da usare"
    ),
    "et": _phrases(
        "suurepära* | aitäh | tänan | väga rahul | rahul | tubli | soovitan | lihtne kasutada | "
        "hea | meeldib | imeline | vinge | parim"
    ),
    "af": _phrases(
        "uitstekend* | baie dankie | dankie vir | tevrede | wonderlik* | fantasties* | vinnige "
        "aflewering | aanbeveel | beveel aan | goeie diens | maklik om te gebruik | puik"
    ),
    "sv": _phrases(
        "tack så mycket | jättebra | fantastisk* | utmärkt* | nöjd | rekommenderar | toppen | "
        "perfekt"
    ),
    "da": _phrases("tusind tak | fantastisk* | fremragende | tilfreds | anbefaler | perfekt"),
    "nb": _phrases("tusen takk | fantastisk* | utmerket | fornøyd | anbefaler | perfekt"),
    "fi": _phrases("kiitos paljon | loistava* | erinomai* | tyytyväinen | suosittelen | mahtava*"),
    "pl": _phrases("dziękuję bardzo | świetn* | doskonał* | zadowolon* | polecam | rewelac*"),
}

# Words that often carry a complaint without being one on their own: waiting, again, still,
# why, how long, please, help, anyone, and "my" (my order, my money). With `plain_statements`
# on, a long text with none of them, no negator and no phrase above is a plain statement:
# `neutral` (see `SentimentAnalyzer`). With one, it stays `unscored`.
TROUBLE: dict[str, tuple[str, ...]] = {
    "nl": _phrases(
        "wacht* | weer | nog steeds | al weken | al dagen | waarom | hoe lang | help* | "
        "alsjeblieft | graag | mijn | probleem* | fout* | helaas | jammer | eindelijk | sinds "
        "| iemand | niemand | verkeerd* | derde keer | zoveel keer | weken | serieus | echt "
        "waar | klantenservice | helpdesk | hangt op | ophangen"
    ),
    "de": _phrases(
        "wart* | warte* | wieder | immer noch | seit | warum | wie lange | hilfe | helft | "
        "bitte | mein* | problem* | fehler* | leider | schade | endlich | jemand | niemand | "
        "ewig | dauert | falsch* | dritten mal | zum x* | wochen | echt jetzt | ernsthaft | "
        "hotline | kundenservice | kundendienst | support | legt auf | aufgelegt"
    ),
    "fr": _phrases(
        "attend* | encore | toujours | depuis | pourquoi | combien de temps | aide* | aidez | "
        "svp | s'il vous plait | mon | ma | mes | probleme* | erreur* | malheureusement | "
        "dommage | enfin | quelqu'un | personne | mauvais* | troisieme fois | semaines | "
        "serieusement | service client | sav | hotline | raccroch*"
    ),
    "es": _phrases(
        "esper* | otra vez | de nuevo | todavia | aun | desde hace | por que | porque | "
        "cuanto tiempo | ayud* | por favor | mi | mis | problema* | error* | lamentablemente "
        "| por fin | alguien | nadie | equivocad* | incorrect* | tercera vez | semanas | en "
        "serio | atencion al cliente | servicio al cliente | colgar* | cuelgan"
    ),
    "pt": _phrases(
        "esper* | de novo | outra vez | ainda | desde | por que | porque | quanto tempo | "
        "ajud* | por favor | meu | minha | meus | minhas | problema* | erro* | infelizmente | "
        "finalmente | alguem | ninguem | errad* | terceira vez | semanas | serio | a serio | "
        "atendimento | sac | deslig*"
    ),
    "it": _phrases(
        "aspett* | ancora | di nuovo | da settimane | da giorni | perche | quanto tempo | "
        "aiut* | per favore | mio | mia | miei | mie | problem* | errore* | purtroppo | "
        "finalmente | qualcuno | nessuno | sbagliat* | terza volta | settimane | sul serio | "
        "assistenza | servizio clienti | riattacca*"
    ),
    "et": _phrases(
        "oota* | jalle | ikka | juba | miks | kui kaua | abi | palun | minu | mu | probleem* "
        "| viga | kahjuks | lopuks | keegi | vale | valet | kolmandat korda | nadalat | "
        "tosiselt | klienditeenindus* | toru maha"
    ),
    "af": _phrases(
        "wag* | weer | nog steeds | al weke | hoekom | hoe lank | help* | asseblief | my | "
        "probleem* | fout* | ongelukkig | uiteindelik | iemand | niemand | verkeerd* | derde "
        "keer | weke | ernstig | kliëntediens | klantediens | sit die foon neer"
    ),
    "sv": _phrases(
        "vanta* | vantar | igen | fortfarande | varfor | hur lange | hjalp* | snalla | min | "
        "mitt | mina | problem* | fel | tyvarr | antligen | nagon | ingen | fel | tredje "
        "gangen | veckor | pa riktigt | allvarligt | kundtjanst | kundservice | lagger pa"
    ),
    "da": _phrases(
        "vent* | igen | stadig | hvorfor | hvor længe | hjælp* | venligst | min | mit | mine "
        "| problem* | fejl | desværre | endelig | nogen | ingen | forkert* | tredje gang | "
        "uger | seriost | kundeservice | kundeservicen | lagger pa"
    ),
    "nb": _phrases(
        "vent* | igjen | fortsatt | hvorfor | hvor lenge | hjelp* | vennligst | min | mitt | "
        "mine | problem* | feil | dessverre | endelig | noen | ingen | feil | tredje gang | "
        "uker | seriost | kundeservice | kundeservicen | legger pa"
    ),
    "fi": _phrases(
        "odot* | taas | viela | miksi | kuinka kauan | apua | auta* | ole hyva | minun | "
        "tilaukseni | pakettini | rahani | ongelma* | virhe* | valitettavasti | vihdoin | "
        "joku | vaara* | kolmannen kerran | viikkoa | tosissaan | asiakaspalvelu* | katkais*"
    ),
    "pl": _phrases(
        "czeka* | znowu | nadal | wciaz | dlaczego | jak dlugo | pomoc* | prosze | moj | moja "
        "| moje | mojego | mojej | problem* | błąd | niestety | wreszcie | ktos | nikt | zly "
        "| zla | zle | złe | zły | zła | trzeci raz | tygodni | serio | obsluga klienta | "
        "obsługa klienta | rozłącz*"
    ),
}

# First- and second-person words: a customer writes "I", "my", "you"; a news item or an
# announcement does not. A text with one of them is never a plain statement.
PERSONAL: dict[str, tuple[str, ...]] = {
    "nl": _phrases(
        "ik | mij | me | mijn | wij | we | ons | onze | jij | je | jou | jouw | jullie | u | uw"
    ),
    "de": _phrases(
        "ich | mich | mir | mein* | wir | uns | unser* | du | dich | dir | dein* | ihr | euch "
        "| euer | eure*"
    ),
    "fr": _phrases(
        "je | j | moi | me | m | mon | ma | mes | nous | notre | nos | tu | te | toi | ton | "
        "ta | tes | vous | votre | vos"
    ),
    "es": _phrases(
        "yo | me | mi | mis | nosotros | nos | nuestr* | tu | te | ti | tus | usted* | "
        "vosotros | os | vuestr*"
    ),
    "pt": _phrases(
        "eu | me | mim | meu | minha | meus | minhas | nos | noss* | tu | te | ti | teu | tua "
        "| voce | voces | vos"
    ),
    "it": _phrases(
        "io | mi | me | mio | mia | miei | mie | noi | ci | nostr* | tu | ti | te | tuo | tua "
        "| tuoi | voi | vi | vostr*"
    ),
    "et": _phrases("mina | ma | minu | mind | mu | meie | me | sina | sa | sinu | teie | te"),
    "af": _phrases("ek | my | myne | ons | jy | jou | julle | u"),
    "sv": _phrases(
        "jag | mig | mitt | min | mina | vi | oss | var | vart | du | dig | din | ditt | ni | "
        "er | ert"
    ),
    "da": _phrases(
        "jeg | mig | min | mit | mine | vi | os | vores | du | dig | din | dit | jer | jeres"
    ),
    "nb": _phrases(
        "jeg | meg | min | mitt | mine | vi | oss | var | vart | du | deg | din | ditt | dere "
        "| deres"
    ),
    "fi": _phrases(
        "mina | minun | minua | minulle | me | meidan | sina | sinun | sinulle | te | teidan"
    ),
    "pl": _phrases(
        "ja | mnie | mi | moj | moja | moje | my | nas | nasz* | ty | ciebie | ci | twoj* | "
        "wy | was | wasz*"
    ),
}
