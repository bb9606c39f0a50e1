"use strict";(()=>{var g={};function u(e){try{return localStorage.getItem("kibitz:"+e)}catch{return g[e]??null}}function p(e,t){try{t==null?localStorage.removeItem("kibitz:"+e):localStorage.setItem("kibitz:"+e,t)}catch{t==null?delete g[e]:g[e]=t}}var j=15*6e4;var c=class extends Error{constructor(n,r,a=[],s=0){super(r);this.status=n;this.code=r;this.errors=a;this.retry=s}},k="",w=e=>k=e,M=12e4;async function E(e,t,n,r){let a={},s=Number(u("wrote"))||0;e=="GET"&&Date.now()-s<M&&(t+=(t.includes("?")?"&":"?")+"fresh="+s),n!==void 0&&(a["Content-Type"]="application/json");let h=u("reader"),y=u("session");e!="GET"&&h&&(a["X-Kibitz-Reader"]=h),y&&(e!="GET"||t.startsWith("/api/v1/me"))&&(a["X-Kibitz-Session"]=y),r&&(a.Authorization="Bearer "+r);let i;try{i=await fetch(k+t,{method:e,headers:a,body:n===void 0?null:JSON.stringify(n),cache:"no-cache"})}catch{throw new c(0,"network")}e!="GET"&&i.ok&&!t.endsWith("/preview")&&p("wrote",String(Date.now()));let b=i.headers.get("X-Kibitz-Reader");b&&p("reader",b);let l=i.status==204?null:await i.json().catch(()=>null);if(!i.ok){l&&l.code=="session_invalid"&&p("session",null);let v=Number(i.headers.get("Retry-After"))||0;throw new c(i.status,l&&l.code||"",l&&l.errors||[],v)}return l}function m(e,t,...n){let r=document.createElement(e);for(let a in t){let s=t[a];s===!0?r.setAttribute(a,""):s!=null&&s!==!1&&r.setAttribute(a,String(s))}return T(r,n),r}function T(e,t){for(let n of t)Array.isArray(n)?T(e,n):(n||n==="")&&e.appendChild(typeof n=="string"?document.createTextNode(n):n)}var S={menu:"Moderate",reject:"Hide",spam:"Mark as spam",pin:"Pin",unpin:"Unpin",rejected:"The comment is hidden.",spammed:"The comment is marked as spam.",pinned:"The comment is pinned.",unpinned:"The comment is unpinned.",refused:"You may not moderate here any more.",failed:"That did not work. Please try again."},A={de:`Moderieren
Ausblenden
Als Spam markieren
Anheften
Nicht mehr anheften
Der Kommentar ist ausgeblendet.
Der Kommentar ist als Spam markiert.
Der Kommentar ist angeheftet.
Der Kommentar ist nicht mehr angeheftet.
Sie dürfen hier nicht mehr moderieren.
Das hat nicht geklappt. Bitte versuchen Sie es erneut.`,fr:`Modérer
Masquer
Signaler comme spam
Épingler
Désépingler
Le commentaire est masqué.
Le commentaire est signalé comme spam.
Le commentaire est épinglé.
Le commentaire n’est plus épinglé.
Vous ne pouvez plus modérer ici.
Cela n’a pas fonctionné. Veuillez réessayer.`,es:`Moderar
Ocultar
Marcar como spam
Fijar
Dejar de fijar
El comentario está oculto.
El comentario está marcado como spam.
El comentario está fijado.
El comentario ya no está fijado.
Ya no puede moderar aquí.
No ha funcionado. Inténtelo de nuevo.`,tr:`Moderasyon
Gizle
Spam olarak işaretle
Sabitle
Sabitlemeyi kaldır
Yorum gizlendi.
Yorum spam olarak işaretlendi.
Yorum sabitlendi.
Yorumun sabitlemesi kaldırıldı.
Burada artık moderasyon yapamazsınız.
Olmadı. Lütfen yeniden deneyin.`},o=window.kibitzModerate;w(o.base);var d={...S},z=Object.keys(S);A[o.lang]?.split(`
`).forEach((e,t)=>d[z[t]]=e);var L={reject:"rejected",spam:"spammed",pin:"pinned",unpin:"unpinned"},f=!1;function N(e){let t=e.querySelector(":scope>.kb-main>.kb-acts");if(!t||t.querySelector("[data-mod-menu]"))return;let n=!!e.querySelector("[data-pinned]"),r=a=>m("button",{type:"button",class:"kb-ghost","data-mod":a},d[a]);t.append(m("details",{class:"kb-mod","data-mod-menu":""},m("summary",null,d.menu),m("div",{role:"group","aria-label":d.menu},r("reject"),r("spam"),r(n?"unpin":"pin"))))}function x(){if(f)for(let e of o.root.querySelectorAll("li[data-comment-id]>article"))N(e)}async function D(e){let t=e.closest("li[data-comment-id]"),n=e.dataset.mod||"";if(!(!t||e.disabled)){e.disabled=!0;try{await E("POST",`/api/v1/comments/${encodeURIComponent(t.dataset.commentId||"")}/moderate`,{action:n}),await o.load(!1),o.announce(d[L[n]||"failed"])}catch(r){e.disabled=!1,o.announce(r instanceof c&&(r.status==403||r.status==401)?d.refused:d.failed)}}}o.root.addEventListener("click",e=>{let t=e.target.closest("button[data-mod]");t&&f&&D(t)});o.root.addEventListener("keydown",e=>{let t=e.target.closest("details[data-mod-menu][open]");e.key!="Escape"||!t||(t.open=!1,t.querySelector("summary").focus())});new MutationObserver(x).observe(o.root,{childList:!0,subtree:!0});o.root.append(m("style",null,".kb-mod>summary{cursor:pointer;font-weight:600;padding:4px 6px}.kb-mod[open]{flex-basis:100%}.kb-mod>div{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}"));o.start=()=>{f=!0,o.root.setAttribute("data-moderator",""),x()};o.stop=()=>{f=!1,o.root.removeAttribute("data-moderator");for(let e of o.root.querySelectorAll("[data-mod-menu]"))e.remove()};o.on&&o.start();})();
