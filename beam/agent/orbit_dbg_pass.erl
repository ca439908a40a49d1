%% Passes: which checks of a breakpoint belong to one pass over its line (see the section below).
-module(orbit_dbg_pass).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([native_check/3, pass_check/3, step/2, step_landed/2]).

%% Passes: one stop each time execution reaches a breakpoint's line, no more and no fewer
%%
%% The interpreter checks a breakpoint before each expression of a body (function, clause, fun, block)
%% that stands on the breakpoint's line, and one line often holds several: `if state.balance >= x` is a
%% `case` on a `case`, a pipe nests calls, `a = f(); b = g()` is two expressions. This is the one place
%% that tells the checks of one pass over a line from the first check of the next pass:
%%
%%   A check belongs to the pass of the breakpoint's last deciding check in the same activation (its
%%   anchor) when the expression it checks is another one than the anchor's and part of what the anchor
%%   started: inside the anchor's expression, or after it in the same body (the interpreter's
%%   `dbg_ieval:seq/3` frame holds both). Shortcut: same activation and the bindings only grew (the
%%   clause of a nested `case` bound its variables).
%%   Anything else starts a pass: the anchor's own expression reached again (the next GenServer call
%%   served by the same process, the next element of an Enum.map fun, the next turn of a loop), another
%%   activation (the interpreter's call stack, dbg_istk, differs: recursion), another path to the line.
%%
%% An activation is the interpreter's call stack; anchors of activations that have returned are dropped,
%% so a recursive call's passes do not end the caller's. The first check of a pass decides (condition,
%% hit count, log message); the other checks of the pass never stop. A step (next, step in) that lands
%% on its own line and level asks the same rule through step_landed/2.
pass_check(Slot, #{simple := true} = Spec, Bs) ->
    %% Only one expression of any body starts on the breakpoint's lines (orbit_dbg_eval:set_condition/2
    %% found so): every check is a pass of its own, and reading the interpreter's frames is not needed.
    check(Slot, Spec, Bs);
pass_check(Slot, Spec, Bs) ->
    Key = {orbit_pass, Slot},
    Istk = istk_here(),
    Anchors = live_anchors(Spec, Istk, get(Key)),
    Anchor = lists:keyfind(Istk, 1, Anchors),
    case Anchor of
        {Istk, Bs0, _} ->
            case grown(Bs0, Bs) of
                true -> false;
                false -> decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors)
            end;
        false -> decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors)
    end.

%% The native engine's check (orbit_native, OTP 28+): the VM reports one hit per pass over a line, so
%% every hit is a pass; Pid is the process that hit the line (named in log points, and the one a step
%% trap waits for).
native_check(Slot, Pid, Bs) ->
    case catch ets:lookup(orbit_dbg_conds, Slot) of
        [{Slot, Spec}] ->
            put(self, Pid),
            R = check(Slot, Spec, Bs),
            erase(self),
            R =:= true;
        _ -> false
    end.

decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors) ->
    Where = where(self()),
    case Anchor of
        {_, _, Where0} ->
            case nested_in(Where0, Where) of
                true -> false;
                false -> new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors)
            end;
        false -> new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors)
    end.

new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors) ->
    put(Key, {Spec, [{Istk, Bs, Where} | lists:keydelete(Istk, 1, Anchors)]}),
    check(Slot, Spec, Bs).

%% The anchors of Spec's passes in activations that are still on the stack (Istk's own among them).
live_anchors(Spec, Istk, {Spec, Anchors}) ->
    [A || {I, _, _} = A <- Anchors, lists:suffix(I, Istk)];
live_anchors(_Spec, _Istk, _) -> [].

%% The interpreter's call stack in this meta process: the level and call line of each entry.
istk_here() ->
    case get(dbg_istk) of
        L when is_list(L) -> [{element(2, E), element(4, E)} || E <- L, is_tuple(E), tuple_size(E) >= 4];
        _ -> []
    end.

grown(Bs0, Bs) ->
    length(Bs) > length(Bs0) andalso lists:all(fun(B) -> lists:member(B, Bs) end, Bs0).

%% Is the expression checked at Where part of what the anchor at Where0 started (and not the anchor's own)?
nested_in({Expr0, Scope0}, {Expr, _}) when is_binary(Expr0), is_binary(Expr), Expr =/= Expr0 ->
    binary:match(Scope0, Expr) =/= nomatch;
nested_in(_, _) -> false.

%% What the interpreter of Meta (a meta process of this node; self() inside a condition) is checking:
%% {Expr, Scope}, the printed expression and the printed body it stands in (expression and the ones after
%% it), read from the frame of dbg_ieval:seq/3 that asked for the check. `unknown` where that frame is
%% not found (another OTP's interpreter): then every check starts a pass, so a stop is never lost.
where(Meta) ->
    case catch erlang:process_info(Meta, backtrace) of
        {backtrace, Bt} -> seq_frame(binary:split(Bt, <<"\n">>, [global]));
        _ -> unknown
    end.

seq_frame([]) -> unknown;
seq_frame([Line | Rest]) ->
    case binary:match(Line, <<"(dbg_ieval:seq/3">>) of
        nomatch -> seq_frame(Rest);
        _ -> seq_values(Rest, [])
    end.

seq_values([<<"y(", _/binary>> = Line | Rest], Acc) ->
    [_, Value] = binary:split(Line, <<")">>),
    seq_values(Rest, [string:trim(Value) | Acc]);
seq_values(_, Acc) ->
    Values = lists:reverse(Acc),
    Exprs = [V || <<"{", _/binary>> = V <- Values, binary:match(V, <<"{ieval,">>) =/= {0, 7}],
    Rests = [V || <<"[{", _/binary>> = V <- Values],
    case Exprs of
        [Expr | _] -> {Expr, iolist_to_binary([Expr | Rests])};
        [] -> unknown
    end.

%% Steps. The interpreter does not ask conditions on a step: after `next` or `step` from a line, it
%% stops at the next expression, which may be a nested one of the same line. step/2 records where the
%% paused process stands and sends the command; step_landed/2, asked when the step stopped on the line
%% and level it started from, applies the rule above and steps again (`again`) or lets the stop show.
step(Meta, Cmd) when Cmd =:= next; Cmd =:= step ->
    keeper_put({step_from, Meta}, where(Meta)),
    Meta ! {user, {cmd, Cmd}},
    ok;
step(Meta, Cmd) ->
    keeper_delete({step_from, Meta}),
    Meta ! {user, {cmd, Cmd}},
    ok.

step_landed(Meta, Cmd) ->
    case keeper_get({step_from, Meta}) of
        {ok, Where0} ->
            case nested_in(Where0, where(Meta)) of
                true -> Meta ! {user, {cmd, Cmd}}, again;
                false -> keeper_delete({step_from, Meta}), stop
            end;
        error -> stop
    end.

keeper_put(K, V) -> catch ets:insert(orbit_dbg_conds, {K, V}), ok.
keeper_delete(K) -> catch ets:delete(orbit_dbg_conds, K), ok.
keeper_get(K) ->
    case catch ets:lookup(orbit_dbg_conds, K) of
        [{K, V}] -> {ok, V};
        _ -> error
    end.

%% A step trap (see call_target/3) stops only the process the step went to, once.
check(Slot, #{trap := Only} = Spec, Bs) ->
    Mine = case Only of
               {node, N} -> node() =:= N;
               Pid when is_pid(Pid) -> get(self) =:= Pid
           end,
    Mine andalso ets:insert_new(orbit_dbg_conds, {{trap_fired, Slot, maps:get(id, Spec)}, true})
        andalso check(Slot, maps:remove(trap, Spec), Bs);
%% Otherwise the breakpoint's condition, hit count and log message decide (orbit_dbg_eval).
check(Slot, Spec, Bs) ->
    orbit_dbg_eval:check(Slot, Spec, Bs).

%% ---------------------------------------------------------------------------------------------
