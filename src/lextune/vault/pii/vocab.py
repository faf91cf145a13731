"""Word lists that separate names from the capitalized vocabulary of contracts.

Contracts capitalize roles ("Licensee"), defined terms ("Confidential Information"), headings and
titles; a spaCy model or a capitalized-run regex proposes those as names. A candidate survives only
if it holds a word that is none of these (see `names.is_name_like`).
"""

from __future__ import annotations

import re


def wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of a block of text (word lists stay readable in the source)."""
    return frozenset(text.split())


# Words a party is called by inside a contract: an alias made of these stays intact ("Licensee").
ROLE_WORDS = wordset("""
licensee licensor licensees licensors company companies corporation distributor distributors bank party
parties buyer buyers seller sellers purchaser purchasers vendor vendors supplier suppliers customer
customers client clients contractor contractors subcontractor consultant consultants employee employer
executive lender lenders borrower borrowers guarantor guarantors landlord tenant lessor lessee franchisor
franchisee franchisees manufacturer reseller resellers agent agents principal sponsor sponsors investor
investors holder holders trustee trustees member members manager managers partner partners owner owners
provider providers recipient discloser disclosing receiving affiliate affiliates subsidiary subsidiaries
parent acquiror acquirer issuer underwriter underwriters adviser advisor advisers developer publisher author
artist endorser grantor grantee assignor assignee transferor transferee operator carrier shipper repairer
representative producer marketer retailer dealer agency collaborator venturer venturers shareholder
shareholders stockholder stockholders association fund funds trust series club team university institution
hospital city county state town municipality government authority district registrant user subscriber
participant beneficiary indemnitee indemnitor servicer originator depositor maker payee payor obligor
obligee you we us our holding mid-tier mhc group network reseller licensing sublicensee sublicensor
collaborator customer's seller's contractor's administrative collateral escrow purchaser's lessee's tenant's
licensee's licensor's company's party's individual individually collectively entity entities person persons
venture partnership your yours they them their
""")

# Capitalized words of contract prose, headings and signature blocks that are never a name on their own.
GENERIC_WORDS = wordset("""
agreement agreements amendment amended restated exhibit exhibits schedule schedules annex appendix
attachment section sections article articles clause clauses recital recitals whereas witnesseth definitions
definition term terms territory product products service services effective date dates confidential
confidentiality information intellectual property notice notices closing signature signatures page pages
title name names by its president chief executive officer officers ceo cfo coo cto cmo evp svp vp vice
director directors secretary treasurer counsel general chairman chairwoman chair managing attorney fact
witness witnesses notary public commission expires seal source execution version copy draft form exhibit
table contents now therefore in witness whereof hereof hereto herein hereunder the a an and or of for to by
with from on at as this that these those such each any all other between among made entered into dated day
month year january february march april may june july august september october november december monday
tuesday wednesday thursday friday saturday sunday license licenses licensed sublicense royalty royalties
payment payments fee fees price prices pricing purchase sale sales supply development distribution marketing
manufacturing maintenance research technology technologies program programs project projects plan plans
policy policies standard standards specification specifications material materials system systems software
data documentation deliverables term termination renewal expiration assignment indemnification indemnity
warranty warranties liability limitation limitations insurance governing law laws jurisdiction dispute
disputes arbitration resolution force majeure severability waiver counterparts entire miscellaneous general
provisions representations covenants obligations rights responsibilities duties compliance audit records
reports report accounting taxes tax expenses costs consideration compensation incentive bonus stock shares
share securities equity common preferred capital option options warrant warrants note notes loan credit
facility collateral security interest interests principal amount account accounts payable receivable invoice
invoices order orders forecast forecasts delivery deliveries shipment acceptance inspection quality
assurance control controls regulatory approval approvals filing filings registration marketing authorization
trademark trademarks mark marks patent patents copyright copyrights trade secret secrets know-how
improvement improvements invention inventions work works deliverable milestone milestones phase stage study
studies trial trials clinical commercial commercialization launch net gross revenue revenues profit profits
loss losses minimum maximum annual quarterly monthly initial additional first second third fourth fifth
final new old current prior existing future change changes event events default defaults breach cure remedy
remedies claim claims action actions proceeding proceedings court courts judgment award damages injunctive
relief equitable transition support training personnel staff employees key team committee steering joint
board meeting meetings vote consent approval decision decisions notice address addresses attention attn
facsimile fax telephone phone tel email e-mail mail telecopy telecopier copy copies courier registered
certified united states america american national international global worldwide federal state states local
foreign north south east west northern southern eastern western central domestic inc incorporated corp
corporation co company llc ltd limited lp llp plc gmbh ag sa nv bv hereafter hereinafter hereby herewith
thereof therein whereby dept attn esq ref iso
""")

# Organizations that are public institutions, not private parties: naming them is not personal data.
PUBLIC_BODY_WORDS = wordset("""
commission department ministry court courts agency administration bureau office congress senate parliament
government exchange nasdaq nyse sec fda irs ftc finra uspto epa doj ecb fdic occ cms nih usda
""")

# Entity-type suffixes of company names; a run of capitalized words ending in one is an organization.
LEGAL_SUFFIX = (
    r"(?:Inc|INC|Incorporated|INCORPORATED|Corp|CORP|Corporation|CORPORATION|Co|CO|Company|COMPANY|LLC|L\.L\.C"
    r"|Ltd|LTD|Limited|LIMITED|LLP|L\.L\.P|LP|L\.P|PLC|plc|Plc|GmbH|GMBH|AG|S\.A|SA|S/A|SAS|S\.A\.S|SARL|S\.?à\.? ?r\.?l"
    r"|N\.V|NV|B\.V|BV|S\.p\.A|SpA|SPA|Pty|PTY|K\.K|KK|AB|Oy|Oyj|SE|A/S|ApS|S\.r\.l|Srl|SRL|S\.L|P\.C|PC|P\.A"
    r"|G\.I\.E|GIE|Aktiengesellschaft|AKTIENGESELLSCHAFT|Bancorp|BANCORP|Bancshares|BANCSHARES|MHC|LLLP|PLLC)"
)
# Suffixes that are only ever legal forms (never a role word on their own), as lower-case keys.
STRONG_SUFFIXES = wordset("""
inc incorporated corp llc l.l.c ltd limited llp l.l.p lp l.p plc gmbh ag s.a sa s/a sas s.a.s sarl n.v nv
b.v bv s.p.a spa pty k.k kk ab oy oyj a/s aps s.r.l srl s.l p.c pc p.a g.i.e gie aktiengesellschaft bancorp
bancshares mhc lllp pllc corporation
""")
# Head nouns that make a capitalized run an organization when some other word in it is a name.
ORG_HEADS = wordset("""
company corporation holdings holding group partners bank trust fund association foundation university
institute laboratories labs pharmaceuticals pharma technologies systems networks industries enterprises
international capital ventures investments solutions services communications media entertainment energy
resources
""")

# Places that describe a party ("a Delaware corporation", "Nevada Corporation") but do not name it.
GEO_WORDS = wordset("""
alabama alaska arizona arkansas california colorado connecticut delaware florida georgia hawaii idaho
illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts michigan minnesota mississippi
missouri montana nebraska nevada hampshire jersey mexico york carolina dakota ohio oklahoma oregon
pennsylvania rhode island tennessee texas utah vermont virginia washington wisconsin wyoming columbia
ontario quebec alberta america american canada canadian brazil brazilian france french germany german spain
spanish italy italian israel israeli japan japanese china chinese korea korean india indian australia
australian switzerland swiss netherlands dutch belgium belgian sweden swedish denmark danish norway
norwegian finland finnish ireland irish england english britain british kingdom scotland wales europe
european asia asian africa african cayman islands bermuda luxembourg singapore taiwan hong kong republic
people's people federal
""")

US_STATE_CODES = wordset("""
AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK
OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR
""")

_WORD = re.compile(r"[A-Za-z][A-Za-z'’\-]*")


def words(text: str) -> list[str]:
    """The alphabetic words of `text`, possessives stripped, lower-cased."""
    out = []
    for w in _WORD.findall(text):
        w = w.lower()
        if w.endswith(("'s", "’s")):
            w = w[:-2]
        out.append(w.strip("'’-"))
    return [w for w in out if w]


def is_role_phrase(text: str) -> bool:
    """True for an alias such as "Licensee", "the Company" or "Disclosing Party" (kept intact)."""
    ws = [w for w in words(text) if w not in ("the", "a", "an", "and", "or", "each", "of")]
    return bool(ws) and all(w in ROLE_WORDS or w in GENERIC_WORDS for w in ws)
