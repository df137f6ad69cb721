// The Portolan policy language. docs/language.md describes it in prose.
//
// The lexer never fails: stray characters and unterminated strings become tokens of their own so
// the parser reports them at their location with a message of ours.
grammar Portolan;

file : item* EOF ;

item
  : policyDecl
  | importDecl
  | zoneDecl
  | roleDecl
  | serviceDecl
  | featureDecl
  | groupDecl
  | flowDecl
  | suppressDecl
  | expectDecl
  ;

policyDecl    : POLICY name=dottedName title=STRING? ( '{' policyAttr* '}' | ';' ) ;
policyAttr    : REFERENCE STRING ';' ;
dottedName    : ident ( '.' ident )* ;

importDecl    : IMPORT path=STRING ';' ;

zoneDecl      : ZONE name=ident desc=STRING? ';' ;

roleDecl      : ROLE name=ident desc=STRING? ( IN zone=ident )? ( '{' roleMember* '}' | ';' ) ;
roleMember    : interfaceDecl | vipDecl | balanceDecl ;
interfaceDecl : INTERFACE name=ident desc=STRING? ( IN zone=ident )? ';' ;
// A load-balanced virtual address: `vip for edge, edge2.access; balance snat from hlb;`
vipDecl       : VIP FOR endpoint ( ',' endpoint )* ';' ;
balanceDecl   : BALANCE how=checkCode ( FROM balancer=endpoint )? ';' ;

serviceDecl   : SERVICE name=ident label=STRING? '=' serviceSpec ( ',' serviceSpec )* ';' ;
serviceSpec
  : transport=( TCP | UDP | TCP_UDP ) dports=portList? ( SPORT sports=portList )?   # portSpec
  | transport=( ICMP | ICMPV6 ) ( TYPE type=INT )? ( CODE code=INT )?     # icmpSpec
  | PROTO number=INT                                                       # protoSpec
  | ANY                                                                    # anySpec
  ;
portList      : portRange ( ',' portRange )* ;
portRange     : lo=INT ( '-' hi=INT )? ;

featureDecl   : FEATURE name=ident desc=STRING? ';' ;

// group sip_servers "SIP servers" = director, fe, fe_pool.internal;
groupDecl     : GROUP name=ident label=STRING? '=' endpoint ( ',' endpoint )* ';' ;

flowDecl
  : FLOW action=( ALLOW | DENY )? ( group=ident ':' )? src=flowEnd arrow=( ARROW | BIARROW ) dst=flowEnd
    VIA serviceRef ( ',' serviceRef )* mapsTo? note=STRING? ( WHEN cond=condition )?
    ( '{' flowAttr* '}' | ';' )
  ;
// Port mapping: `flow publish: client -> rproxy.ext via http maps to fe.web tcp 8080;`
mapsTo        : MAPS TO target=endpoint transport=( TCP | UDP ) port=INT ;
endpoint      : role=ident ( '.' iface=ident )? ;  // a role, an interface or a group
endpointList  : '{' endpoint ( ',' endpoint )* '}' ;
flowEnd       : ANY | endpointList | endpoint ;
serviceRef    : ident ;
flowAttr
  : REQUIRED ';'                                  # requiredAttr
  | EXPIRES DATE ';'                              # expiresAttr
  | NOTE STRING ';'                               # noteAttr
  | TAGS ident ( ',' ident )* ';'                 # tagsAttr
  | WHEN condition ';'                            # whenAttr
  | suppressDecl                                  # suppressAttr
  ;

// when federation or (public_im and not lab): not binds tighter than and, and than or.
condition
  : NOT condition                                 # notCondition
  | condition AND condition                       # andCondition
  | condition OR condition                        # orCondition
  | '(' condition ')'                             # parenCondition
  | feature=ident                                 # featureCondition
  ;

// expect allow client -> edge.access via sip_tls;   expect deny any -> edge.access tcp 22 in lab;
expectDecl
  : EXPECT action=( ALLOW | DENY ) src=expectSide arrow=( ARROW | BIARROW ) dst=expectSide
    ( VIA serviceRef ( ',' serviceRef )* | serviceSpec ( ',' serviceSpec )* ) note=STRING?
    ( IN expectName ( ',' expectName )* )? ( ON expectName ( ',' expectName )* )? ';'
  ;
expectSide    : ANY | address=( IPV4 | IPV6 ) | endpointList | endpoint ;
// A manifest name (environment, target): a string, or words joined by '-' (edge-host-nftables).
expectName    : STRING | nameWord ( '-' nameWord )* ;
nameWord      : codeWord | INT ;

suppressDecl  : SUPPRESS code=checkCode reason=STRING? ';' ;
checkCode     : codeWord ( '-' codeWord )* ;
codeWord      : ident | REQUIRED | EXPIRES | NOTE | TAGS | WHEN | ANY | DENY | ALLOW | FLOW | ROLE
              | SERVICE | ZONE | FEATURE | INTERFACE | IMPORT | GROUP ;

// Keywords that are also fine as names.
ident         : ID | TYPE | CODE | REFERENCE | SPORT | PROTO | POLICY | EXPECT | ON | GROUP | VIP
              | FOR | BALANCE | FROM | MAPS | TO ;

POLICY    : 'policy' ;
REFERENCE : 'reference' ;
IMPORT    : 'import' ;
ZONE      : 'zone' ;
ROLE      : 'role' ;
INTERFACE : 'interface' ;
IN        : 'in' ;
SERVICE   : 'service' ;
FEATURE   : 'feature' ;
FLOW      : 'flow' ;
GROUP     : 'group' ;
VIA       : 'via' ;
WHEN      : 'when' ;
ALLOW     : 'allow' ;
DENY      : 'deny' ;
REQUIRED  : 'required' ;
EXPIRES   : 'expires' ;
NOTE      : 'note' ;
TAGS      : 'tags' ;
SUPPRESS  : 'suppress' ;
TCP       : 'tcp' ;
TCP_UDP   : 'tcp+udp' ;  // TCP and UDP on the same ports
UDP       : 'udp' ;
ICMP      : 'icmp' ;
ICMPV6    : 'icmpv6' ;
PROTO     : 'proto' ;
TYPE      : 'type' ;
CODE      : 'code' ;
SPORT     : 'sport' ;
ANY       : 'any' ;
NOT       : 'not' ;
AND       : 'and' ;
OR        : 'or' ;
EXPECT    : 'expect' ;
ON        : 'on' ;
VIP       : 'vip' ;
FOR       : 'for' ;
BALANCE   : 'balance' ;
FROM      : 'from' ;
MAPS      : 'maps' ;
TO        : 'to' ;

ARROW     : '->' ;
BIARROW   : '<->' ;

// Address literals (expectations only). Longest match keeps every other input as it was: no
// valid text has digits joined by dots, or two colons without a space.
IPV4      : DIGIT+ '.' DIGIT+ '.' DIGIT+ '.' DIGIT+ ( '/' DIGIT+ )? ;
IPV6      : HEX* ':' HEX* ':' [0-9a-fA-F:.]* ( '/' DIGIT+ )? ;
DATE      : DIGIT DIGIT DIGIT DIGIT '-' DIGIT DIGIT '-' DIGIT DIGIT ;
INT       : DIGIT+ ;
ID        : [a-zA-Z_] [a-zA-Z0-9_]* ;
STRING    : '"' ( ~["\\\r\n] | '\\' ~[\r\n] )* '"' ;
UNTERMINATED_STRING : '"' ( ~["\\\r\n] | '\\' ~[\r\n] )* ;

// Comments go to the hidden channel: the parser never sees them, `portolan fmt` keeps them.
LINE_COMMENT  : ( '#' | '//' ) ~[\r\n]* -> channel(HIDDEN) ;
BLOCK_COMMENT : '/*' .*? '*/' -> channel(HIDDEN) ;
UNTERMINATED_COMMENT : '/*' ;  // only wins when BLOCK_COMMENT finds no end
WS        : [ \t\r\n\f]+ -> skip ;

fragment DIGIT : [0-9] ;
fragment HEX   : [0-9a-fA-F] ;

ERROR_CHAR : . ;
