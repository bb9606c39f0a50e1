"use strict";(()=>{var U={};function u(e){try{return localStorage.getItem("kibitz:"+e)}catch{return U[e]??null}}function k(e,t){try{t==null?localStorage.removeItem("kibitz:"+e):localStorage.setItem("kibitz:"+e,t)}catch{t==null?delete U[e]:U[e]=t}}function Y(e){try{return JSON.parse(u(e)||"null")}catch{return null}}var Qe=15*6e4;function J(e){return Y("token:"+e)}function ke(e){let t=J(e);return t?Math.max(0,t.created+Qe-Date.now()):0}var E=class extends Error{constructor(n,r,i=[],s=0){super(r);this.status=n;this.code=r;this.errors=i;this.retry=s}},ye="",ve=e=>ye=e,Ze=12e4;async function we(e,t,n,r){let i={},s=Number(u("wrote"))||0;e=="GET"&&Date.now()-s<Ze&&(t+=(t.includes("?")?"&":"?")+"fresh="+s),n!==void 0&&(i["Content-Type"]="application/json");let c=u("reader"),l=u("session");e!="GET"&&c&&(i["X-Kibitz-Reader"]=c),l&&(e!="GET"||t.startsWith("/api/v1/me"))&&(i["X-Kibitz-Session"]=l),r&&(i.Authorization="Bearer "+r);let d;try{d=await fetch(ye+t,{method:e,headers:i,body:n===void 0?null:JSON.stringify(n),cache:"no-cache"})}catch{throw new E(0,"network")}e!="GET"&&d.ok&&!t.endsWith("/preview")&&k("wrote",String(Date.now()));let g=d.headers.get("X-Kibitz-Reader");g&&k("reader",g);let h=d.status==204?null:await d.json().catch(()=>null);if(!d.ok){h&&h.code=="session_invalid"&&k("session",null);let G=Number(d.headers.get("Retry-After"))||0;throw new E(d.status,h&&h.code||"",h&&h.errors||[],G)}return h}function o(e,t,...n){let r=document.createElement(e);for(let i in t){let s=t[i];s===!0?r.setAttribute(i,""):s!=null&&s!==!1&&r.setAttribute(i,String(s))}return Ee(r,n),r}function Ee(e,t){for(let n of t)Array.isArray(n)?Ee(e,n):(n||n==="")&&e.appendChild(typeof n=="string"?document.createTextNode(n):n)}function Se(e){let t="http://www.w3.org/2000/svg",n=document.createElementNS(t,"svg"),r=document.createElementNS(t,"path");return n.setAttribute("viewBox","0 0 16 16"),n.setAttribute("aria-hidden","true"),r.setAttribute("d",e?"M8 3l6 8H2z":"M8 13L2 5h12z"),n.appendChild(r),n}var X={one:"% comment",other:"% comments",comments:"Comments",invite:"Would love your thoughts, please comment.",first:"Be the first to comment.",notify:"Notify of",none:"—",replies:"new replies to my comments",all:"all new follow-up comments",name:"Name",email:"Email (optional)",url:"Website (optional)",text:"Your comment",placeholder:"Join the discussion…",preview:"Preview",post:"Post comment",reply:"Reply",cancel:"Cancel",save:"Save",edit:"Edit",del:"Delete",flag:"Report",newest:"Newest",oldest:"Oldest",votes:"Most voted",sortBy:"Sort comments",inline:"Inline feedback",noInline:"No inline feedback yet: nobody has commented on a passage of this article.",viewAll:"View all % comments",more:"Load more",cont:"Continue this thread",tomb:"This comment was deleted.",edited:"edited",up:"Upvote",down:"Downvote",pinned:"Pinned",held:"Awaiting moderation",featured:"Featured",byMod:"edited by a moderator",closed:"Comments are closed.",follow:"Follow",off:"Comments are unavailable right now.",updates:"updates to this story",signIn:"Sign in",staff:"Staff",moderator:"Moderator",verified:"Verified",author:"Author"},et={de:`% Kommentar
% Kommentare
Kommentare
Wir freuen uns auf Ihre Meinung – schreiben Sie einen Kommentar.
Schreiben Sie den ersten Kommentar.
Benachrichtigen bei
—
neuen Antworten auf meine Kommentare
allen neuen Kommentaren
Name
E-Mail (freiwillig)
Website (freiwillig)
Ihr Kommentar
Diskutieren Sie mit…
Vorschau
Kommentar senden
Antworten
Abbrechen
Speichern
Bearbeiten
Löschen
Melden
Neueste
Älteste
Beliebteste
Kommentare sortieren
Inline-Feedback
Noch kein Inline-Feedback: Niemand hat bisher eine Textstelle dieses Artikels kommentiert.
Alle % Kommentare anzeigen
Mehr laden
Diesen Strang weiterlesen
Dieser Kommentar wurde gelöscht.
bearbeitet
Positiv bewerten
Negativ bewerten
Angeheftet
Wartet auf Freigabe
Hervorgehoben
von der Moderation bearbeitet
Die Kommentare sind geschlossen.
Folgen
Die Kommentare sind gerade nicht verfügbar.
Aktualisierungen dieses Artikels
Anmelden
Redaktion
Moderation
Verifiziert
Autor`,fr:`% commentaire
% commentaires
Commentaires
Votre avis nous intéresse, laissez un commentaire.
Soyez le premier à commenter.
M’avertir des
—
nouvelles réponses à mes commentaires
nouveaux commentaires de la discussion
Nom
E-mail (facultatif)
Site web (facultatif)
Votre commentaire
Participez à la discussion…
Aperçu
Publier
Répondre
Annuler
Enregistrer
Modifier
Supprimer
Signaler
Plus récents
Plus anciens
Mieux notés
Trier les commentaires
Commentaires en ligne
Pas encore de commentaires en ligne : personne n’a commenté un passage de cet article.
Voir les % commentaires
Afficher plus
Continuer cette discussion
Ce commentaire a été supprimé.
modifié
Voter pour
Voter contre
Épinglé
En attente de modération
À la une
modifié par la modération
Les commentaires sont fermés.
Suivre
Les commentaires sont indisponibles pour le moment.
mises à jour de cet article
Se connecter
Rédaction
Modération
Vérifié
Auteur`,es:`% comentario
% comentarios
Comentarios
Nos encantaría saber tu opinión, deja un comentario.
Sé el primero en comentar.
Avisarme de
—
nuevas respuestas a mis comentarios
todos los comentarios nuevos
Nombre
Correo (opcional)
Sitio web (opcional)
Tu comentario
Únete a la conversación…
Vista previa
Publicar comentario
Responder
Cancelar
Guardar
Editar
Eliminar
Denunciar
Más recientes
Más antiguos
Más votados
Ordenar comentarios
Comentarios en línea
Aún no hay comentarios en línea: nadie ha comentado un pasaje de este artículo.
Ver los % comentarios
Cargar más
Continuar este hilo
Este comentario fue eliminado.
editado
Votar a favor
Votar en contra
Fijado
Pendiente de moderación
Destacado
editado por la moderación
Los comentarios están cerrados.
Seguir
Los comentarios no están disponibles en este momento.
actualizaciones de esta noticia
Iniciar sesión
Redacción
Moderador
Verificado
Autor`,tr:`% yorum
% yorum
Yorumlar
Düşüncelerinizi merak ediyoruz, lütfen yorum yapın.
İlk yorumu siz yapın.
Bildir:
—
yorumlarıma gelen yeni yanıtlar
tüm yeni yorumlar
Ad
E-posta (isteğe bağlı)
Web sitesi (isteğe bağlı)
Yorumunuz
Tartışmaya katılın…
Önizleme
Yorumu gönder
Yanıtla
Vazgeç
Kaydet
Düzenle
Sil
Şikâyet et
En yeni
En eski
En çok oy alan
Yorumları sırala
Satır içi geri bildirim
Henüz satır içi geri bildirim yok: bu makalenin bir bölümüne kimse yorum yapmadı.
% yorumun tümünü gör
Daha fazla yükle
Bu konuşmaya devam et
Bu yorum silindi.
düzenlendi
Olumlu oy
Olumsuz oy
Sabitlendi
Onay bekliyor
Öne çıkan
moderatör tarafından düzenlendi
Yorumlar kapalı.
Takip et
Yorumlar şu anda kullanılamıyor.
bu habere dair güncellemeler
Giriş yap
Editör
Moderatör
Doğrulanmış
Yazar`},a=X,f="en";function Te(e){let t=(e.dataset.lang||document.documentElement.lang||"").toLowerCase().split(/[-_]/)[0]||"",n=et[t];if(!n)return;f=t;let r=Object.keys(X);a={...X},n.split(`
`).forEach((i,s)=>a[r[s]]=i)}var B=e=>e=="staff"||e=="moderator"||e=="verified"||e=="author"?a[e]:e,Q=e=>e<1e3?String(e):e.toLocaleString(f);function Le(e){return(new Intl.PluralRules(f).select(e)=="one"?a.one:a.other).replace("%",Q(e))}var tt="nofollow ugc noopener noreferrer",nt={p:[],br:[],em:[],strong:[],s:[],del:[],code:["class"],pre:[],blockquote:[],ul:[],ol:["start"],li:[],a:["href","title","rel"],hr:[],img:["src","alt","title"]},rt=/^[^\s\x00-\x1f\x7f-\x9f\\]+$/,ot={"a.href":/^(https?:\/\/[^/@?#]|mailto:[^/])/i,"img.src":/^https?:\/\/[^/@?#]/i,"code.class":/^language-[\w+#.-]{1,32}$/,"ol.start":/^\d{1,9}$/};function Ae(e){let t=document.createElement("template");return t.innerHTML=e,Me(t.content),t.content}function Me(e){for(let t of Array.from(e.childNodes)){if(t.nodeType==3)continue;let n=t,r=t.nodeType==1?n.localName:"",i=n.namespaceURI=="http://www.w3.org/1999/xhtml"?nt[r]:void 0;if(!i){e.removeChild(t);continue}for(let s of Array.from(n.attributes)){let c=r+"."+s.name,l=ot[c];i.indexOf(s.name)>=0&&(!l||l.test(s.value))&&(c!="a.href"&&c!="img.src"||rt.test(s.value))||n.removeAttribute(s.name)}r=="a"&&n.setAttribute("rel",tt),Me(n)}}var at=[["year",31536e3],["month",2592e3],["week",604800],["day",86400],["hour",3600],["minute",60]],S={},Z,ee=[];function K(e){let t=(Date.now()-Date.parse(e))/1e3;for(let[n,r]of at)if(t>=r)return(S.a||(S.a=new Intl.RelativeTimeFormat(f))).format(-Math.floor(t/r),n);return(S.n||(S.n=new Intl.RelativeTimeFormat(f,{numeric:"auto"}))).format(0,"second")}function F(e,t){return Z?e.title=Z.format(new Date(t)):ee.push([e,t])==1&&requestAnimationFrame(()=>setTimeout(()=>{Z=new Intl.DateTimeFormat(f,{dateStyle:"long",timeStyle:"short"});for(let[n,r]of ee)F(n,r);ee=[]})),e}var He=5,it=0,st=e=>e<0?"−"+-e:String(e);function p(e,t,n){return o("button",{type:"button","data-action":e,...n},t)}function lt(e){return F(o("time",{datetime:e},K(e)),e)}function dt(e){let t=o("div",{class:"kb-body","data-body":""});return t.appendChild(Ae(e)),t}function Ce(e,t,n){let r=o("button",{type:"button",class:"kb-vote","data-action":t>0?"upvote":"downvote","aria-label":t>0?a.up:a.down,"aria-pressed":String(u("vote:"+e.id)==String(t)),disabled:n});return r.appendChild(Se(t>0)),r}function ct(e){let{name:t,url:n}=e.author;return[n&&/^https?:\/\//i.test(n)?o("a",{class:"kb-name","data-author":"",href:n,rel:"nofollow ugc noopener noreferrer"},t):o("span",{class:"kb-name","data-author":""},t),...(e.author.badges||[]).map(i=>o("span",{class:"kb-badge","data-badge":i},B(i)))]}function j(e){if(e.deleted)return o("article",{class:"kb-c",tabindex:-1},o("span",{class:"kb-av"}),o("p",{class:"kb-tomb"},a.tomb));let t=!!J(e.id),n=e.status=="pending",r=!n&&ke(e.id)>0;return o("article",{class:"kb-c",tabindex:-1},e.author.avatar?o("img",{class:"kb-av","data-avatar":"",alt:"",src:e.author.avatar,width:40,height:40}):o("span",{class:"kb-av"}),o("div",{class:"kb-main"},o("header",{class:"kb-meta"},ct(e),lt(e.created),e.edited&&F(o("span",{class:"kb-ed","data-mod-edited":e.edited_by_moderator},e.edited_by_moderator?a.byMod:a.edited),e.edited),e.pinned&&o("span",{class:"kb-tag","data-pinned":""},a.pinned),e.featured&&o("span",{class:"kb-tag","data-featured":""},a.featured),n&&o("span",{class:"kb-tag"},a.held)),dt(e.html),o("div",{class:"kb-acts"},Ce(e,1,t),o("span",{class:"kb-score","data-score":"",title:`+${e.up} / −${e.down}`},st(e.score)),Ce(e,-1,t),p("reply",a.reply,{"aria-expanded":"false"}),r&&p("edit",a.edit),r&&p("delete",a.del),!t&&p("flag",a.flag))))}function M(e,t){let n=o("li",{"data-comment-id":e.id,"data-deleted":e.deleted,"data-depth":t,"data-pending":e.status=="pending"});return n.appendChild(j(e)),e.replies.length&&n.appendChild(te(e.replies,t+1)),e.reply_count>e.replies.length&&n.appendChild(p("continue",t>=He?a.cont:a.more,{class:"kb-link"})),n}function te(e,t){return o("ol",{"data-replies":"",class:t>He?"kb-flat":null},e.map(n=>M(n,t)))}function ze(e,t){return o("div",{class:"kb-err",id:e+t+"-err",role:"alert","data-error-for":t})}function A(e,t,n,r,i=""){return r.id=e+t,r.name=t,t!="notify"&&r.setAttribute("aria-describedby",e+t+"-err"),o("div",{class:"kb-f "+i},o("label",{for:e+t,class:t=="text"?"kb-sr":null},n),r,t!="notify"&&ze(e,t))}function ne(e,t=""){let n="kb"+it+++"-",r=Y("author")||{},i=(g,h,G)=>o("input",{type:h,value:r[g]||"",autocomplete:G,maxlength:g=="name"?64:null}),s=o("textarea",{rows:e=="main"?4:3,placeholder:a.placeholder});s.value=t;let c=o("select",null,o("option",{value:"none"},a.none),o("option",{value:"replies"},a.replies),o("option",{value:"all"},a.all),o("option",{value:"updates"},a.updates)),l=u("session")&&u("me-notify")||r.notify;l&&(c.value=l);let d=e=="edit";return o("form",{class:"kb-form kb-"+e,"data-form":e,novalidate:!0},!d&&o("div",{class:"kb-notify"},A(n,"notify",a.notify,c,"kb-inl")),A(n,"text",a.text,s),!d&&o("div",{class:"kb-row"},A(n,"name",a.name,i("name","text","name")),A(n,"email",a.email,i("email","email","email")),A(n,"url",a.url,i("url","url","url"))),o("div",{class:"kb-preview kb-body","data-preview":"",hidden:!0}),ze(n,"form"),o("div",{class:"kb-btns"},e!="main"&&p("cancel",a.cancel,{class:"kb-ghost"}),!d&&p("preview",a.preview,{class:"kb-ghost"}),o("button",{type:"submit",class:"kb-primary"},d?a.save:e=="main"?a.post:a.reply)))}function Re(e){let t=(i,s)=>e.querySelector(":scope>header "+i)?.getAttribute(s)||"",n=i=>e.querySelector(":scope>"+i)?.textContent||"",r=Array.from(e.querySelectorAll(":scope>.kibitz-replies>article"),Re);return{id:e.getAttribute("data-comment-id")||"",author:{name:n("header [itemprop=name]"),avatar:t("img","src")||null,url:t("a[itemprop=url]","href")||null,badges:Array.from(e.querySelectorAll(":scope>header>[data-badge]"),i=>i.getAttribute("data-badge")||"")},html:e.querySelector(":scope>.kibitz-text")?.innerHTML||"",created:t("time","datetime"),score:+n("header .kibitz-score").replace("−","-"),up:+t("[itemprop=upvoteCount]","content"),down:+t("[itemprop=downvoteCount]","content"),replies:r,reply_count:r.length,deleted:e.classList.contains("kibitz-deleted")}}function Ie(e){return{thread:{count:+(e.querySelector("[data-count]")?.getAttribute("data-count")||0),closed:!!e.querySelector(".kibitz-closed")},comments:Array.from(e.querySelectorAll(":scope>article"),Re),next:null}}var mt="#fff,#1f2328,#57606a,#d0d7de,#f6f8fa,#0a6e52,#fff,#fff5c2,#cf222e",ut="#16181c,#e6e8eb,#9aa5b1,#3a4049,#1f2329,#4fd1a5,#0b1f17,#4a4216,#ff8182",Pe=["bg","fg","muted","border","surface","accent","on-accent","mark","error"],De=e=>e.split(",").map((t,n)=>`--${Pe[n]}:var(--kb-${Pe[n]},${t});`).join(""),re=`
:host{all:initial;display:block}
[hidden]{display:none!important}
.kb{${De(mt)}color-scheme:light;background:var(--bg);color:var(--fg);border-radius:var(--kb-radius,8px);
font:15px/1.55 var(--kb-font,system-ui,-apple-system,"Segoe UI",sans-serif);
padding:20px;text-align:start;overflow-wrap:anywhere}
.kb[data-theme=dark]{${De(ut)}color-scheme:dark}
.kb *{box-sizing:border-box}
.kb-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.kb-top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:2px solid var(--accent);
padding-bottom:8px;margin-bottom:12px}
h2{font-size:1.25em;margin:0;font-weight:700}
.kb-invite{margin:0;color:var(--muted)}
.kb-follow{margin-inline-start:auto}
.kb-off,.kb-empty{color:var(--muted);margin:12px 0}
.kb-account{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;margin:0 0 10px;font-size:.87em;color:var(--muted)}
.kb-account input{flex:1 1 12em;min-width:0;padding:6px 8px;border:1px solid var(--border);border-radius:var(--radius)}
.kb-badge{margin-inline-start:6px;padding:0 6px;border:1px solid var(--accent);border-radius:9px;font-size:.8em;color:var(--accent)}
.kb[data-signed-in] .kb-row{display:none}
.kb[data-closed] :is([data-action=reply],[data-form=reply],[data-action=follow],[data-form=follow],[data-follow-done]),
.kb[data-down] :is(form,.kb-bar,.kb-follow,.kb-invite,.kb-more,.kb-acts){display:none}
.kb-form{display:grid;gap:10px;margin:0 0 20px}
.kb-notify{display:flex;justify-content:flex-end}
.kb-f{display:grid;gap:4px;min-width:0;align-content:start}
.kb-inl{display:flex;align-items:center;gap:8px}
label,.kb-meta,.kb-err,.kb-acts,.kb-note{font-size:.87em;color:var(--muted)}
input,textarea,select,button{font:inherit;color:inherit}
input,textarea,select{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:8px 10px;width:100%}
select{width:auto;padding:4px 8px}
textarea{resize:vertical;min-height:5.2em}
[aria-invalid=true]{border-color:var(--error)}
.kb-row{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.kb-err{color:var(--error)}
.kb-err:empty{display:none}
.kb-btns{display:flex;flex-wrap:wrap;align-items:center;gap:8px;justify-content:flex-end}
button{cursor:pointer;background:none;border:0;padding:4px 6px;border-radius:6px}
button,select{min-width:24px;min-height:24px}
@media (pointer:coarse){button,select,input{min-width:44px;min-height:44px}}
button:disabled{cursor:default;opacity:.5}
.kb-primary{background:var(--accent);color:var(--on-accent);font-weight:600;padding:8px 16px}
.kb-ghost{border:1px solid var(--border);padding:7px 14px}
button:hover:not(:disabled,.kb-primary){background:var(--surface)}
.kb-preview{border:1px dashed var(--border);border-radius:6px;padding:8px 12px}
.kb-bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px;border-bottom:1px solid var(--border);margin-bottom:8px}
[role=tablist]{display:flex;margin-inline-start:auto}
[role=tab],[data-filter]{color:var(--muted);padding:8px 10px;border-radius:0;border-bottom:2px solid transparent;margin-bottom:-1px}
[aria-selected=true],[data-filter][aria-pressed=true]{color:var(--fg);border-color:var(--accent);font-weight:600}
ol{list-style:none;margin:0;padding:0}
[data-replies]{margin-inline-start:28px;padding-inline-start:12px;border-inline-start:2px solid var(--border)}
.kb-flat{margin:0;padding:0;border:0}
.kb-c{display:flex;gap:12px;padding:12px 6px;border-radius:6px}
li[data-highlighted]>.kb-c{background:var(--mark)}
.kb-av{flex:none;width:40px;height:40px;border-radius:50%;background:var(--surface)}
[data-replies] .kb-av{width:32px;height:32px}
.kb-main{flex:1;min-width:0}
.kb-meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 10px}
.kb-name{color:var(--fg);font-weight:600;font-size:1.07em;text-decoration:none}
a.kb-name{display:inline-block;min-height:24px}
.kb-ed::before{content:"· "}
.kb-tag{background:var(--surface);border-radius:9px;padding:0 7px}
.kb-body{margin:4px 0 2px}
.kb-body>*{margin:0 0 .6em}
.kb-body>:last-child{margin:0}
.kb-body :is(ul,ol){padding-inline-start:1.4em;list-style:revert}
.kb-body a{color:var(--accent)}
.kb-body blockquote{border-inline-start:3px solid var(--border);padding-inline-start:10px;color:var(--muted)}
.kb-body code{font:.9em ui-monospace,monospace;background:var(--surface);padding:1px 4px;border-radius:4px}
.kb-body pre{background:var(--surface);padding:8px;border-radius:6px;overflow:auto}
.kb-body img{max-width:100%;height:auto}
.kb-tomb{color:var(--muted);font-style:italic;margin:8px 0}
.kb-acts{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin-inline-start:-6px}
.kb-acts button{color:var(--muted);font-weight:600}
.kb-vote{display:inline-flex;align-items:center;justify-content:center;padding:6px}
.kb-vote svg{width:14px;height:14px;fill:currentColor}
.kb-vote[aria-pressed=true]{color:var(--accent)}
.kb-score{min-width:1.6em;text-align:center;font-weight:700;color:var(--fg)}
.kb-note{margin:4px 0}
.kb-link,.kb-more{color:var(--accent);font-weight:600;padding:6px 8px}
.kb-more{display:block;width:100%;margin-top:12px;border:1px solid var(--border);padding:10px}
.kb-closed{color:var(--muted);font-style:italic}
@media (max-width:480px){.kb{padding:12px}[data-replies]{margin-inline-start:8px;padding-inline-start:8px}.kb-av{width:32px;height:32px}}
`;var pt=0,Be=0,Ne=0,x={},oe={},C=()=>++pt;function Ke(){let e=Be;for(let t in x){let[n,r]=x[t];e+=(n?1:0)-(r?1:0)}return Math.max(0,e)}function V(e,t,n){if(n===void 0)Ne=C();else if(Ne>n)return!1;Be=e;for(let r in x){let i=x[r];i[0]<t&&(i[0]=0),i[1]<t&&(i[1]=0),!i[0]&&!i[1]&&delete x[r]}return!0}function Fe(e,t){oe[e]=t?"d":"c";let n=x[e];n&&(n[0]=0,t&&delete x[e])}function je(e,t){if(t?oe[e]=="d":oe[e])return;let n=x[e]||(x[e]=[0,0]);n[t?1:0]=C()}var qe=10,We=["newest","oldest","votes"],se=document.currentScript||Array.from(document.querySelectorAll("script[src]")).find(e=>/\/embed\.js([?#]|$)/.test(e.src)),m,b,z,O,le,de,ae,ce=null,me,ue,pe,R,q,fe=[],y,be,$=0,Ve=!1,ie,T="",I="",he="",v="newest",H=!1,_=!1,ge=!1,P=null,ft=encodeURIComponent,bt=()=>"posted:"+T+" "+I,L=e=>b.querySelector(`li[data-comment-id="${e}"]`),W=e=>se.src.replace(/embed\.js.*/,e);function $e(){let e=document.getElementById("kibitz");if(!e||e.shadowRoot||!se)return;ve(he=se.src.replace(/\/embed\.js([?#].*)?$/,"")),T=e.dataset.site||"",ce=e.getAttribute("data-sso");let t=/[#&]kibitz-session=([^&]+)/.exec(location.hash);t&&(k("session",decodeURIComponent(t[1])),history.replaceState(null,"",location.pathname+location.search)),I=e.dataset.page||location.pathname.replace(/(.)\/+$/,"$1");let n=u("sort");v=We.indexOf(n)>=0?n:"newest",Te(e);let r=e.querySelector("section[data-kibitz-ssr]"),i=e.attachShadow({mode:"open"});if(i.adoptedStyleSheets&&window.CSSStyleSheet&&"replaceSync"in CSSStyleSheet.prototype){let l=new CSSStyleSheet;l.replaceSync(re),i.adoptedStyleSheets=[l]}else i.appendChild(o("style",null,re));i.appendChild(gt());let s=matchMedia("(prefers-color-scheme: dark)"),c=()=>{let l=e.dataset.theme;m.dataset.theme=l=="dark"||l!="light"&&s.matches?"dark":"light"};if(c(),s.addEventListener?.("change",c),r){let l=Ie(r);r.remove(),r.getAttribute("data-sort")==v&&(l.comments=l.comments.slice(0,qe),V(l.thread.count,0,0),Ye(l,!1))}m.addEventListener("click",ht),m.addEventListener("submit",l=>{l.preventDefault();let d=l.target;D(g=>g.submit(d))}),m.addEventListener("keydown",yt),m.addEventListener("input",l=>{let d=l.target;D(g=>g.input(d))});for(let l of["focusin","pointerdown"])m.addEventListener(l,()=>Je().catch(()=>{}));window.addEventListener("hashchange",Oe),w(!1).then(l=>{if(l){Oe(),window.kibitzLive={site:T,page:I,root:m,now:C,count:(d,g,h)=>V(d,g,h)&&xe(),saw:Fe,closed:Ue,comment:M,article:j,lang:f,updates:fe,ago:K};for(let d of["live.js","anchor.js"])document.head.appendChild(o("script",{src:W(d),async:!0}));(u("session")||ce)&&_e().catch(()=>{})}})}function _e(){return ae||(ae=new Promise((e,t)=>{window.kibitzSignIn={site:T,base:he,root:m,bar:de,sso:ce,announce:N,button:p,ready:e,load:w,lang:f,asset:W,badge:B};let n=o("script",{src:W("signin.js"),async:!0});n.onerror=()=>{ae=void 0,n.remove(),t(new Error("signin.js"))},document.head.appendChild(n)}))}function gt(){return z=o("h2",{tabindex:-1},a.comments),O=o("p",{class:"kb-invite","data-invite":""},a.invite),le=ne("main"),de=o("div",{class:"kb-account","data-account":""},p("sign-in",a.signIn,{class:"kb-ghost"})),me=o("p",{class:"kb-closed",hidden:!0},a.closed),ue=o("p",{class:"kb-off",role:"status","data-unavailable":"",hidden:!0},a.off),y=We.map(e=>o("button",{type:"button",role:"tab",id:"kb-tab-"+e,"data-sort":e,"aria-controls":"kb-list"},a[e])),be=o("button",{type:"button","data-filter":"inline","aria-pressed":"false"},a.inline),b=o("ol",{"data-comments":""}),pe=o("p",{class:"kb-empty","data-empty":"",hidden:!0},a.noInline),R=p("load-more",a.more,{class:"kb-more",hidden:!0}),q=o("div",{class:"kb-sr","aria-live":"polite","data-live":""}),m=o("section",{class:"kb","data-kibitz-root":"","aria-label":a.comments,lang:f},o("header",{class:"kb-top"},z,O,p("follow",a.follow,{class:"kb-ghost kb-follow","aria-expanded":"false"})),ue,me,de,le,o("div",{class:"kb-bar"},be,o("div",{role:"tablist","aria-label":a.sortBy},y)),o("div",{role:"tabpanel",id:"kb-list"},b,pe),R,q),Ge(),m}function Ge(){for(let e of y){let t=e.dataset.sort==v;e.setAttribute("aria-selected",String(t)),e.tabIndex=t?0:-1,t&&b.parentElement.setAttribute("aria-labelledby",e.id)}}function xe(){let e=Ke();z.setAttribute("data-count",String(e)),z.textContent=Le(e),O.textContent=ge?a.closed:e?a.invite:a.first,O.hidden=ge||e>0&&!!u(bt()),R.textContent=_?a.more:a.viewAll.replace("%",Q(e))}function Ue(e){ge=e,m.toggleAttribute("data-closed",e),me.hidden=!e,le.hidden=e,xe()}function Ye(e,t){P=e.next,Ue(e.thread.closed),t||(b.textContent=""),fe=e.updates||fe;for(let n of e.comments)L(n.id)||b.appendChild(M(n,0));R.hidden=!P,pe.hidden=!H||!!b.children.length}async function w(e,t){let n=++$,r=new URLSearchParams({page:I,sort:v,limit:String(_?100:qe)});H&&r.set("filter","inline"),e&&P&&r.set("cursor",P),b.setAttribute("aria-busy","true");let i=C();try{let s=await we("GET",`/api/v1/sites/${ft(T)}/comments?${r}`);return n!=$?!0:!V(s.thread.count,i,i)&&!e&&!t?w(!1,!0):(Ye(s,e),Ve=!0)}catch(s){return n!=$?!1:Ve?(N(a.off),!1):(m.setAttribute("data-down",""),ue.hidden=!1,s instanceof E&&!s.status&&D(c=>c.diagnose()),!1)}finally{n==$&&b.removeAttribute("aria-busy")}}async function Oe(){let e=/^#comment-(\d+)$/.exec(location.hash);if(!e)return;let t=L(e[1]);for(let n=0;!t&&P&&n<20;n++)_=!0,await w(!0),t=L(e[1]);if(t){for(let n of m.querySelectorAll("[data-highlighted]"))n.removeAttribute("data-highlighted");t.setAttribute("data-highlighted",""),t.scrollIntoView({block:"center"})}}function N(e){q.textContent=q.textContent==e?e+" ":e}function Je(){return ie||(ie=new Promise((e,t)=>{window.kibitzAct={site:T,page:I,base:he,root:m,list:b,heading:z,lang:f,t:a,find:L,comment:M,article:j,replies:te,form:ne,button:p,announce:N,mine:(r,i)=>{je(r,i),xe()},sort:()=>v,ready:e};let n=o("script",{src:W("actions.js"),async:!0});n.onerror=()=>{ie=void 0,n.remove(),t(new Error("actions.js"))},document.head.appendChild(n)}))}function D(e){Je().then(e).catch(()=>N(a.off))}function ht(e){let t=e.target,n=t.closest("[data-sort]");if(n)return Xe(n.dataset.sort);if(t.closest("[data-filter]")){H=!H,be.setAttribute("aria-pressed",String(H)),w(!1);return}let r=t.closest("button[data-action]");r&&(r.dataset.action=="load-more"?kt():r.closest("[data-account]")?_e().then(i=>i(r),()=>N(a.off)):D(i=>i.click(xt(r))))}function xt(e){let t=e.closest("li[data-comment-id]")?.dataset.commentId;return e.isConnected||!t?e:Array.from(L(t)?.querySelectorAll(`button[data-action="${e.dataset.action}"]`)??[]).find(r=>r.closest("li[data-comment-id]")==L(t))??e}function Xe(e){e!=v&&(v=e,k("sort",e),Ge(),w(!1))}async function kt(){let e=b.children.length;_=!0,await w(!0);let t=b.children[e];R.hidden&&t&&t.firstElementChild.focus()}function yt(e){let t=e.target;if(t.getAttribute("role")=="tab"){let n=y.indexOf(t),r={ArrowRight:n+1,ArrowLeft:n-1}[e.key];if(r===void 0)return;e.preventDefault();let i=y[(r+y.length)%y.length];i.focus(),Xe(i.dataset.sort)}else e.key=="Escape"&&D(n=>n.escape(t))}document.readyState=="loading"?document.addEventListener("DOMContentLoaded",$e):$e();})();
