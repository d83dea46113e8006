"""The errors of papers and sittings: stable codes, Chinese titles."""

from __future__ import annotations

from services.common.errors import Conflict, Forbidden, Invalid, NotFound


class SittingNotFound(NotFound):
    code, title = "EXAM_SITTING_NOT_FOUND", "考试不存在或不在您的管辖范围内"


class PaperQuestionNotFound(NotFound):
    code, title = "EXAM_PAPER_QUESTION_NOT_FOUND", "试卷中没有这道题"


class SittingExists(Conflict):
    code, title = "EXAM_SITTING_EXISTS", "该考核对象已开始（或已完成）本次考试"


class SittingClosed(Conflict):
    code, title = "EXAM_SITTING_CLOSED", "考试已结束（已交卷或已过截止时间），不能再作答"


class PlanNotOpen(Conflict):
    code, title = "EXAM_PLAN_NOT_OPEN", "考核计划尚未抽取发布，或考核对象已不在名单中"


class OutsideWindow(Conflict):
    code, title = "EXAM_OUTSIDE_WINDOW", "不在考核计划的考试时间内"


class PlanModeMismatch(Conflict):
    code, title = "EXAM_PLAN_MODE_MISMATCH", "该考核计划为纸笔考核，不能在线考试"


class BankTooSmall(Conflict):
    code, title = "EXAM_BANK_TOO_SMALL", "题库中符合条件的题目不足，无法组卷"


class PaperNotDrawn(Conflict):
    code, title = "EXAM_PAPER_NOT_DRAWN", "尚未为该考核对象抽取纸质试卷"


class RetakeNotAllowed(Conflict):
    code, title = "EXAM_RETAKE_NOT_ALLOWED", "只有考试不合格后才能安排补考"


class ExaminerOnly(Forbidden):
    code, title = "EXAM_EXAMINER_ONLY", "纸质试卷与纸笔考核答卷只能由考核计划可见的监管人员办理"


class AnswerInvalid(Invalid):
    code, title = "EXAM_ANSWER_INVALID", "答案与题型或选项不符"
